"""Issue #13, the reference model: what SendGrid must hold once a stream of events has settled, worked out
sequentially from the stream alone, and the seeded generator of streams shaped to hit the pipeline's races.

Pure on purpose: nothing here imports the product (workers, mapping, models, sandbox) or a test helper that
does, so a mistake in the product's mapping, identity resolution or ordering cannot be copied into what the
reference test expects.

The model, per email, over the stream's unique events (a repeated messageId counts once):
- an identify links its userId and anonymousId to its email, unless its marketing consent is false (a denied
  identify links nothing and sets nothing); a page or track event takes `context.traits.email`, else the email
  that any non-denied identify of the whole stream links its userId or anonymousId to; an event with no email
  stays held and is never delivered;
- per field, the newest delivered event by timestamp wins; the lifetime value is the exact sum of revenue over
  distinct order ids;
- the final consent is that of the newest identify carrying one: false means suppressed, fields not compared;
- a contact exists iff it has a delivered event (and its final consent is not false); it is in the default
  list iff one of its delivered events is an identify;
- an event's time is its timestamp, unless that is more than MAX_CLOCK_SKEW after its arrival: then it is its
  arrival (also for last_purchase_at, the arrival's date). The model knows one arrival, `arrival`: when the run
  began, before any event arrived. The streams are dated between BASE_TIME and BASE_TIME + 30 days, in the past
  of any arrival, except one event each of FUTURE_SHARE of the people, dated in the year 2999: so the dated-ahead
  event is newer than every other event of its person and wins every newest-wins comparison it takes part in.
  Two such events setting one field of one person would be ordered by their arrival, which the model does not
  know: it refuses that stream, and one dated after `arrival` but within the bound.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

BASE_TIME = datetime(2026, 11, 1, tzinfo=UTC)
SPAN_SECONDS = 30 * 24 * 3600  # 30 days of timestamps, so that last_purchase_at (a date) tells orders apart
MAX_CLOCK_SKEW = timedelta(hours=24)  # the default of SIGNAL_MAX_CLOCK_SKEW_HOURS, which the tests run with
FUTURE = datetime(2999, 1, 1, tzinfo=UTC)  # the dated-ahead events are in its first 30 days
FUTURE_SHARE = 0.04  # of the people: one event each dated in FUTURE's year
MODELED = ("first_name", "signal_user_id", "last_page_url", "last_product_id", "last_purchase_at", "lifetime_value")


# --- the model ------------------------------------------------------------------------------------------------


class StreamError(ValueError):
    """The stream breaks a promise the model relies on (an id of two people, a tie between two values)."""


@dataclass
class Expected:
    contacts: dict[str, dict[str, object]]  # email -> every modeled field it must hold (consent not withdrawn)
    listed: set[str]  # emails that must be in the default list
    withdrawn: set[str]  # final consent false: in the unsubscribe group, fields not compared
    held: int  # unique events that resolve to no email: held deliveries, never sent
    unique: int  # unique messageIds
    orders: int  # distinct order ids of delivered orders (the product stores those, and only those)
    links: dict[tuple[str, str], str]  # ("user" | "anonymous", id) -> email, from non-denied identifies
    # email -> field -> every value a delivered event gave it (to tell a stale value from a foreign one)
    history: dict[str, dict[str, set[object]]] = field(default_factory=dict)
    clamped: int = 0  # unique events dated more than MAX_CLOCK_SKEW after their arrival: they count at it


def consent_of(event: dict) -> bool | None:
    return ((event.get("context") or {}).get("consent") or {}).get("marketing")


def moment(event: dict) -> datetime:
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))


def time_of(event: dict, arrival: datetime) -> tuple[datetime, bool]:
    """(the time the event counts at, whether that is its arrival rather than its timestamp).

    Every event arrives at or after `arrival`; one dated further ahead of it than the skew is clamped wherever
    it arrives (the streams' dated-ahead events are centuries ahead, a run lasts minutes), and stands for a
    time later than every other event's. One dated in between is clamped or not by when it arrives: refused."""
    at = moment(event)
    if at - arrival > MAX_CLOCK_SKEW:
        return arrival, True
    if at >= arrival:
        raise StreamError(f"{event['messageId']} is dated {at.isoformat()}, after the run began but within the bound")
    return at, False


def unique_events(events: Iterable[dict]) -> list[dict]:
    """The first published copy of each messageId."""
    first: dict[str, dict] = {}
    for event in events:
        first.setdefault(event["messageId"], event)
    return list(first.values())


def identity_links(events: list[dict]) -> dict[tuple[str, str], str]:
    links: dict[tuple[str, str], str] = {}
    for event in events:
        if event["type"] != "identify" or consent_of(event) is False:
            continue
        email = event["traits"]["email"]
        for key in (("user", event.get("userId")), ("anonymous", event.get("anonymousId"))):
            if key[1] and links.setdefault(key, email) != email:
                raise StreamError(f"{key} is linked to {links[key]} and {email}: resolution would be ambiguous")
    return links


def resolve(event: dict, links: dict[tuple[str, str], str]) -> str | None:
    if event["type"] == "identify":
        return event["traits"]["email"]
    email = ((event.get("context") or {}).get("traits") or {}).get("email")
    if email:
        return email
    for key in (("user", event.get("userId")), ("anonymous", event.get("anonymousId"))):
        if key[1] and key in links:
            return links[key]
    return None


def field_values(event: dict, at: datetime) -> dict[str, object]:
    """What a delivered event counting at `at` sets (besides lifetime value, which is a sum over orders)."""
    if event["type"] == "identify":
        return {"first_name": event["traits"]["first_name"], "signal_user_id": event["userId"]}
    if event["type"] == "page":
        return {"last_page_url": event["properties"]["url"]}
    if event["event"] == "Product Viewed":
        return {"last_product_id": event["properties"]["product_id"]}
    return {"last_purchase_at": at.date().isoformat()}  # the UTC date of the order (of its arrival if clamped)


def newest(slot: dict, name: str, at: datetime, value: object) -> None:
    """Keep the value of the newest event; two different values at the same instant would be a coin toss."""
    if name in slot and slot[name][0] == at and slot[name][1] != value:
        raise StreamError(f"{name}: {slot[name][1]!r} and {value!r} both at {at.isoformat()}")
    if name not in slot or at > slot[name][0]:
        slot[name] = (at, value)


def expect(events: Iterable[dict], arrival: datetime | None = None) -> Expected:
    """The reference model: what SendGrid must hold once every event of `events`, arriving at `arrival` (by
    default now) or later, has been processed."""
    arrival = arrival or datetime.now(UTC)
    unique = unique_events(events)
    links = identity_links(unique)
    fields: dict[str, dict[str, tuple[datetime, object]]] = {}
    consent: dict[str, dict[str, tuple[datetime, object]]] = {}
    revenue: dict[str, dict[str, Decimal]] = {}
    history: dict[str, dict[str, set[object]]] = {}
    listed: set[str] = set()
    held = clamped = 0
    for event in unique:
        (at, ahead), email, granted = time_of(event, arrival), resolve(event, links), consent_of(event)
        clamped += ahead
        if granted is not None:
            if event["type"] != "identify":
                raise StreamError(f"{event['messageId']}: the model knows consent on identify events only")
            newest(consent.setdefault(email, {}), "consent", at, granted)
        if granted is False:
            continue  # denied: links nothing, sets nothing
        if email is None:
            held += 1
            continue
        mine = fields.setdefault(email, {})
        for name, value in field_values(event, at).items():
            newest(mine, name, at, value)
            history.setdefault(email, {}).setdefault(name, set()).add(value)
        if event["type"] == "identify":
            listed.add(email)
        if event.get("event") == "Order Completed":
            order_id, amount = event["properties"]["order_id"], Decimal(event["properties"]["revenue"])
            orders = revenue.setdefault(email, {})
            if orders.setdefault(order_id, amount) != amount:
                raise StreamError(f"order {order_id} sent with revenues {orders[order_id]} and {amount}")
    withdrawn = {email for email, slot in consent.items() if slot["consent"][1] is False}
    contacts = {}
    for email, mine in fields.items():
        if email in withdrawn:
            continue
        contact = {name: value for name, (_, value) in mine.items()}
        if email in revenue:
            contact["lifetime_value"] = sum(revenue[email].values(), Decimal(0))
        contacts[email] = contact
    return Expected(
        contacts=contacts,
        listed=listed - withdrawn,
        withdrawn=withdrawn,
        held=held,
        unique=len(unique),
        orders=sum(len(orders) for orders in revenue.values()),
        links=links,
        history=history,
        clamped=clamped,
    )


@dataclass(frozen=True)
class Difference:
    email: str
    kind: str  # "<field>:missing|stale|wrong|unexpected|too_low|too_high", "contact:...", "list:...", ...
    expected: object = None
    actual: object = None


def differences(
    expected: Expected, actual: dict[str, dict[str, object]], listed: set[str], suppressed: set[str]
) -> list[Difference]:
    """Every way the observed state (modeled fields per email, emails in the default list, emails in the
    unsubscribe group) departs from the model."""
    found = []
    for email in sorted(set(expected.contacts) | set(actual)):
        if email not in expected.contacts:
            if email not in expected.withdrawn:  # a withdrawn contact may exist from before: not compared
                found.append(Difference(email, "contact:unexpected", None, actual[email]))
            continue
        if email not in actual:
            found.append(Difference(email, "contact:missing", expected.contacts[email], None))
            continue
        want, got = expected.contacts[email], actual[email]
        for name in sorted(set(want) | set(got)):
            if want.get(name) != got.get(name):
                found.append(Difference(email, f"{name}:{field_kind(expected, email, name, want, got)}",
                                        want.get(name), got.get(name)))  # fmt: skip
        if (email in expected.listed) != (email in listed):
            found.append(Difference(email, "list:missing" if email in expected.listed else "list:unexpected"))
    for email in sorted(expected.withdrawn - suppressed):
        found.append(Difference(email, "suppression:missing"))
    for email in sorted(suppressed - expected.withdrawn):
        found.append(Difference(email, "suppression:unexpected"))
    return found


def field_kind(expected: Expected, email: str, name: str, want: dict, got: dict) -> str:
    if name not in got:
        return "missing"
    if name not in want:
        return "unexpected"
    if name == "lifetime_value":
        return "too_low" if got[name] < want[name] else "too_high"
    return "stale" if got[name] in expected.history.get(email, {}).get(name, ()) else "wrong"


# --- the stream -----------------------------------------------------------------------------------------------


@dataclass
class Person:
    index: int
    kind: str  # "identified" | "consent" | "never_identified" | "guest"
    email: str
    user_id: str
    anonymous_ids: list[str]
    pattern: str = "scattered"  # how its events were laid out in publish order
    consents: tuple[bool | None, ...] = ()  # of its identifies, in timestamp order
    ahead: str | None = None  # its one event dated in FUTURE's year: "identify", "consent" or "order"


@dataclass
class Stream:
    events: list[dict]  # in publish order (not timestamp order)
    people: list[Person]
    seed: int
    duplicates: int = 0  # the very same message published again
    resent_orders: int = 0  # an order again under a new messageId

    def figures(self) -> dict:
        return {
            "people": len(self.people),
            "people_by_kind": dict(Counter(p.kind for p in self.people)),
            "publish_patterns": dict(Counter(p.pattern for p in self.people)),
            "duplicates_published": self.duplicates,
            "orders_resent": self.resent_orders,
            "dated_ahead": dict(Counter(p.ahead for p in self.people if p.ahead)),
        }


# Consent sequences of a person's identifies in timestamp order (None: the identify carries no consent).
CONSENT_SEQUENCES = (
    (True, False),  # withdrawn
    (None, False),  # withdrawn
    (True, True, False),  # withdrawn
    (True, False, True),  # withdrawn, then re-granted
    (False, True),  # denied, then granted
    (False,),  # denied only: nothing links, userId-only events stay held
    (None, True),  # granted
)


class Generator:
    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed
        self.rng = random.Random(seed)
        self.count = 0
        self.duplicates = self.resent = 0

    def message_id(self) -> str:
        self.count += 1
        return f"ref-{self.seed}-{self.count}"

    # -- event bodies (timestamps are given later, once every person's timeline is known)

    def page(self, person: Person, identity: dict) -> dict:
        url = f"https://shop.example/{person.index}/{self.count + 1}"
        return {"messageId": self.message_id(), "type": "page", "properties": {"url": url}, **identity}

    def product(self, person: Person, identity: dict) -> dict:
        product_id = f"P{person.index}-{self.count + 1}"
        return {"messageId": self.message_id(), "type": "track", "event": "Product Viewed",
                "properties": {"product_id": product_id}, **identity}  # fmt: skip

    def order(self, person: Person, identity: dict) -> dict:
        properties = {"order_id": f"ord-{self.seed}-{self.count + 1}",
                      "revenue": f"{self.rng.randrange(100, 50_000) / 100:.2f}"}  # fmt: skip
        return {"messageId": self.message_id(), "type": "track", "event": "Order Completed",
                "properties": properties, **identity}  # fmt: skip

    def identify(self, person: Person, anonymous_id: str | None) -> dict:
        traits = {"email": person.email, "first_name": None}  # named once the identifies are in timestamp order
        body = {"messageId": self.message_id(), "type": "identify", "userId": person.user_id, "traits": traits}
        return body | ({"anonymousId": anonymous_id} if anonymous_id else {})

    def browsing(self, person: Person, anonymous_id: str) -> dict:
        make = self.page if self.rng.random() < 0.6 else self.product
        return make(person, {"anonymousId": anonymous_id})

    def known(self, person: Person) -> dict:
        """How a page or track event of an identified person names them: userId, userId+anonymousId, or email."""
        roll = self.rng.random()
        if roll < 0.35:
            return {"userId": person.user_id}
        if roll < 0.65:
            return {"userId": person.user_id, "anonymousId": self.rng.choice(person.anonymous_ids)}
        by_email = {"context": {"traits": {"email": person.email}}}
        return by_email | ({"userId": person.user_id} if self.rng.random() < 0.5 else {})

    # -- people

    def person(self, index: int) -> Person:
        roll = self.rng.random()
        kind = ("never_identified" if roll < 0.03 else "guest" if roll < 0.05
                else "consent" if roll < 0.10 else "identified")  # fmt: skip
        anonymous_ids = [f"anon-{self.seed}-{index}-{n}" for n in range(self.rng.randint(1, 3))]
        person = Person(index, kind, f"ref-{self.seed}-{index}@example.com", f"user-{self.seed}-{index}", anonymous_ids)
        if kind == "consent":
            person.consents = self.rng.choice(CONSENT_SEQUENCES)
        return person

    def timeline(self, person: Person, budget: int) -> tuple[list[dict], int]:
        """A person's original events in timestamp order, and how many copies (duplicates, re-sent orders)
        to add: `budget` events in all."""
        rng = self.rng
        if person.kind == "never_identified":  # anonymous browsing, and a userId that never identifies
            copies = self.copies(budget, 1)
            events = []
            for _ in range(budget - copies):
                if rng.random() < 0.8:
                    events.append(self.browsing(person, rng.choice(person.anonymous_ids)))
                else:
                    events.append(rng.choice((self.page, self.product, self.order))(person, {"userId": person.user_id}))
            return events, copies
        if person.kind == "guest":  # never identifies, names itself by email
            copies = self.copies(budget, 1)
            by_email = {"context": {"traits": {"email": person.email}}}
            events = [rng.choice((self.page, self.product, self.order))(person, copy.deepcopy(by_email))
                      for _ in range(budget - copies)]  # fmt: skip
            return events, copies
        identifies = len(person.consents) or rng.choices((1, 2, 3), (5, 3, 2))[0]
        before = min(rng.randint(1, 3), budget - identifies)
        copies = self.copies(budget, identifies + before)
        # Browsing before the identify, mostly under the anonymousId the identify will carry.
        first_anonymous = person.anonymous_ids[0]
        seen_as = first_anonymous if rng.random() < 0.95 else rng.choice(person.anonymous_ids)
        events = [self.browsing(person, seen_as) for _ in range(before)]
        events.append(self.identify(person, first_anonymous if rng.random() < 0.95 else None))
        later = [self.identify(person, rng.choice(person.anonymous_ids) if rng.random() < 0.7 else None)
                 for _ in range(identifies - 1)]  # fmt: skip
        linked = [e["anonymousId"] for e in events[before:] + later if "anonymousId" in e] or [first_anonymous]
        for _ in range(budget - copies - before - identifies):
            roll = rng.random()
            if roll < 0.15:  # browsing again without logging in, mostly under an anonymousId an identify carries
                seen_as = rng.choice(linked) if rng.random() < 0.9 else rng.choice(person.anonymous_ids)
                later.append(self.browsing(person, seen_as))
            else:
                make = self.page if roll < 0.5 else self.product if roll < 0.75 else self.order
                later.append(make(person, self.known(person)))
        rng.shuffle(later)
        events += later
        # Identifies get their consent in timestamp order, and first names that say which one is newest.
        mine = [e for e in events if e["type"] == "identify"]
        for number, (event, granted) in enumerate(zip(mine, person.consents or [None] * len(mine), strict=True), 1):
            event["traits"]["first_name"] = f"First-{person.index}-{number}"
            if granted is not None:
                event["context"] = {"consent": {"marketing": granted}}
        return events, copies

    def date_ahead(self, people: list[Person], timelines: list[list[dict]]) -> None:
        """FUTURE_SHARE of the people get one event each dated in FUTURE's year, in place of its timestamp: for a
        person with consent changes, an identify carrying one (mostly not the newest, so the outcome changes);
        for the others an identify (a trait, the first name) or an order (last_purchase_at)."""
        rng = self.rng

        def candidates(person: Person, events: list[dict]) -> list[dict]:
            if person.kind == "consent":
                carrying = [e for e in events if consent_of(e) is not None]
                return carrying[:-1] or carrying  # in timestamp order: not the newest, when it can
            return [e for e in events if e["type"] == "identify" or e.get("event") == "Order Completed"]

        eligible = [(p, c) for p, events in zip(people, timelines, strict=True) if (c := candidates(p, events))]
        count = round(FUTURE_SHARE * len(people))
        consent = [pair for pair in eligible if pair[0].kind == "consent"]
        chosen = rng.sample(consent, min(len(consent), max(1, count // 4)))  # a quarter: consent is 5% of people
        others = [pair for pair in eligible if pair[0].kind != "consent"]
        chosen += rng.sample(others, min(len(others), count - len(chosen)))
        for person, events in chosen:
            event = rng.choice(events)
            at = FUTURE + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            event["timestamp"] = at.strftime("%Y-%m-%dT%H:%M:%SZ")
            person.ahead = (
                "order" if event["type"] == "track" else "consent" if consent_of(event) is not None else "identify"
            )

    def copies(self, budget: int, reserved: int) -> int:
        return max(0, min(sum(self.rng.random() < 0.08 for _ in range(budget)), budget - reserved - 1))

    def add_copies(self, person: Person, originals: list[dict], count: int) -> list[dict]:
        """The very same message again, or an order again under a new messageId (same order id, revenue and
        timestamp; for an identified person perhaps naming them another way). Never the event dated ahead: it
        stays the only one of its person whose time is its arrival."""
        originals = [e for e in originals if moment(e) < FUTURE]
        orders = [e for e in originals if e.get("event") == "Order Completed"]
        extra = []
        for _ in range(count):
            if orders and self.rng.random() < 0.5:
                again = copy.deepcopy(self.rng.choice(orders))
                again["messageId"] = self.message_id()
                if person.kind in ("identified", "consent"):
                    for key in ("userId", "anonymousId", "context"):
                        again.pop(key, None)
                    again.update(self.known(person))
                extra.append(again)
                self.resent += 1
            else:
                extra.append(copy.deepcopy(self.rng.choice(originals)))
                self.duplicates += 1
        return extra

    # -- publish order

    def layout(self, person: Person, originals: list[dict], extra: list[dict]) -> list[tuple[float, int, dict]]:
        """Publish positions (fractions of the stream) of a person's events, shaped to hit the races:
        - held_release: the anonymous browsing early (held), then the identify together with fresh events, so
          the release happens in the same batch as fresh events of that person;
        - adjacent: the identify right before or after the anonymous browsing (concurrent batches);
        - burst: all of the person's events close together (a batch or a few concurrent ones), shuffled;
        - scattered: every event anywhere.
        Arrival order differs from timestamp order in every pattern."""
        rng, placed = self.rng, []
        seq = iter(range(len(originals) + len(extra)))

        def block(events: list[dict], at: float, spread: float = 0.0) -> None:
            for event in events:
                placed.append((at + rng.uniform(0, spread), next(seq), event))

        def scatter(events: list[dict]) -> None:
            for event in events:
                block([event], rng.random())

        one_batch = 1 / self.size  # an event's share of the stream
        roll = rng.random()
        if person.kind in ("never_identified", "guest"):
            person.pattern = "burst" if roll < 0.5 else "scattered"
        else:
            person.pattern = ("held_release" if roll < 0.35 else "adjacent" if roll < 0.60
                              else "burst" if roll < 0.85 else "scattered")  # fmt: skip
        if person.pattern == "scattered":
            scatter(originals + extra)
            return placed
        if person.pattern == "burst":
            everything = originals + extra
            rng.shuffle(everything)
            spread = rng.choice((0, 0, 100, 250, 500)) * one_batch  # contiguous, or over a few ingest batches
            block(everything, rng.random(), spread)
            return placed
        first = next(i for i, e in enumerate(originals) if e["type"] == "identify")
        before, identify, after = originals[:first], originals[first], originals[first + 1 :] + extra
        rng.shuffle(after)
        if person.pattern == "held_release":
            early = rng.uniform(0, 0.55)
            block(rng.sample(before, len(before)), early)
            fresh = [identify, *after[: rng.randint(1, 3)]]
            rng.shuffle(fresh)
            block(fresh, early + rng.uniform(0.1, 0.4))
            scatter(after[len(fresh) - 1 :])
            return placed
        at = rng.random()
        if rng.random() < 0.5:  # one contiguous run, the identify first or last
            block([identify, *before] if rng.random() < 0.5 else [*before, identify], at)
        else:  # a few dozen events apart: most likely two batches processed at the same time
            block([identify], at)
            block(before, at + rng.choice((-1, 1)) * rng.uniform(20, 120) * one_batch)
        scatter(after)
        return placed


def generate(size: int, seed: int) -> Stream:
    """`size` events of size // 10 people, seeded, in publish order (see Generator.layout)."""
    gen = Generator(size, seed)
    rng = gen.rng
    people = [gen.person(i) for i in range(max(size // 10, 1))]
    budgets = [4] * len(people)
    for _ in range(size - 4 * len(people)):
        budgets[rng.randrange(len(people))] += 1
    timelines = [gen.timeline(p, b) for p, b in zip(people, budgets, strict=True)]
    # Globally distinct seconds (no ties anywhere), in order along each person's timeline.
    seconds = rng.sample(range(SPAN_SECONDS), sum(len(events) for events, _ in timelines))
    start = 0
    for events, _ in timelines:
        for event, second in zip(events, sorted(seconds[start : start + len(events)]), strict=True):
            event["timestamp"] = (BASE_TIME + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ")
        start += len(events)
    gen.date_ahead(people, [events for events, _ in timelines])
    placed = []
    for person, (events, copies) in zip(people, timelines, strict=True):
        placed += gen.layout(person, events, gen.add_copies(person, events, copies))
    placed.sort(key=lambda p: (p[0], p[1]))
    return Stream([event for _, _, event in placed], people, seed, gen.duplicates, gen.resent)
