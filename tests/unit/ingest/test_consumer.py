"""workers/ingest/consumer.py: a batch is stored, committed, then acked, then triggered; never acked before.

No broker and no database: messages are stand-ins with the attributes the consumer reads, the session factory
is a stub, and `store_events` is replaced by a recorder.
"""

from __future__ import annotations

from contextlib import contextmanager

import amqp
import pytest
from sqlalchemy.exc import OperationalError

from workers.ingest import consumer as consumer_module
from workers.ingest.consumer import IngestConsumer, ack_all, as_bytes
from workers.ingest.inbox import Incoming


class Message:
    def __init__(
        self,
        tag: int,
        body: bytes | str,
        message_id: str | None = None,
        channel: object = None,
        log: list | None = None,
    ) -> None:
        self.log = log
        self.delivery_tag = tag
        self.body = body
        self.properties = {"message_id": message_id} if message_id else {}
        self.delivery_info = {"redelivered": False}
        self.channel = channel
        self.acked = False
        self._state = "RECEIVED"

    def ack(self) -> None:
        self.acked = True
        if self.log is not None:
            self.log.append("ack")


class Sessions:
    """A sessionmaker stand-in: `begin()` fails with OperationalError `failures` times, then commits."""

    def __init__(self, log: list[str], failures: int = 0) -> None:
        self.log = log
        self.failures = failures
        self.commits = 0

    @contextmanager
    def begin(self):
        if self.failures:
            self.failures -= 1
            raise OperationalError("INSERT", {}, Exception("connection refused"))
        yield "session"
        self.commits += 1
        self.log.append("commit")


class Stop:
    """threading.Event's wait without waiting: records the delays, and says stop after `stop_after` waits."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.waits: list[float] = []
        self.stop_after = stop_after

    def wait(self, delay: float) -> bool:
        self.waits.append(delay)
        return self.stop_after is not None and len(self.waits) >= self.stop_after

    def is_set(self) -> bool:
        return False


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch):
    def make(ids: list[int], failures: int = 0, stop_after: int | None = None, trigger=None):
        log: list[str] = []
        stored: list[list[Incoming]] = []
        sessions = Sessions(log, failures)

        def store_events(session, incoming):
            assert session == "session"
            stored.append(incoming)
            log.append("store")
            return ids

        monkeypatch.setattr(consumer_module, "store_events", store_events)
        triggered: list[list[int]] = []

        def record(batch: list[int]) -> None:
            log.append("trigger")
            triggered.append(batch)

        ingest = IngestConsumer(connection=None, sessions=sessions, trigger=trigger or record)
        ingest.stop = Stop(stop_after)
        return ingest, sessions, stored, triggered, log

    return make


def test_a_batch_is_stored_committed_acked_then_triggered(run):
    ingest, sessions, stored, triggered, log = run([11, 12])
    messages = [Message(1, b'{"messageId":"a"}', "p-a", log=log), Message(2, "{}", log=log)]
    for m in messages:
        ingest.on_message(m)
    ingest.commit_batch()
    assert stored == [[Incoming(b'{"messageId":"a"}', "p-a"), Incoming(b"{}", None)]]
    assert sessions.commits == 1
    assert all(m.acked for m in messages)
    assert triggered == [[11, 12]]
    assert log == ["store", "commit", "ack", "ack", "trigger"]
    assert (ingest.buffer, ingest.stored) == ([], 2)


def test_a_database_outage_is_retried_with_backoff_before_anything_is_acked(run):
    ingest, sessions, stored, triggered, _log = run([1], failures=6)
    message = Message(1, b"{}")
    ingest.on_message(message)
    ingest.commit_batch()
    assert ingest.stop.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]  # doubling, capped at 10 s
    assert sessions.commits == 1 and message.acked
    assert triggered == [[1]]


def test_stopping_during_an_outage_leaves_the_batch_unacked_for_redelivery(run):
    ingest, sessions, _stored, triggered, _log = run([1], failures=5, stop_after=2)
    message = Message(1, b"{}")
    ingest.on_message(message)
    ingest.commit_batch()
    assert (sessions.commits, message.acked, triggered, ingest.stored) == (0, False, [], 0)


def test_triggers_go_out_in_batches_of_a_thousand(run):
    ingest, _sessions, _stored, triggered, _log = run(list(range(2500)))
    ingest.on_message(Message(1, b"{}"))
    ingest.commit_batch()
    assert [len(t) for t in triggered] == [1000, 1000, 500]
    assert [i for t in triggered for i in t] == list(range(2500))


def test_no_new_events_no_trigger(run):
    ingest, _sessions, _stored, triggered, _log = run([])
    message = Message(1, b"{}")
    ingest.on_message(message)
    ingest.commit_batch()
    assert message.acked and triggered == []


def test_a_failing_trigger_is_left_to_the_sweep(run, caplog):
    def broken(_ids: list[int]) -> None:
        raise ConnectionError("broker down")

    ingest, _sessions, _stored, _triggered, _log = run(list(range(1500)), trigger=broken)
    message = Message(1, b"{}")
    ingest.on_message(message)
    ingest.commit_batch()  # does not raise
    assert message.acked
    assert caplog.text.count("could not trigger processing") == 2


# --- as_bytes and ack_all -------------------------------------------------------------------------------------


def test_as_bytes():
    assert as_bytes(b"\xff\x00") == b"\xff\x00"
    assert as_bytes('{"name":"Zoë"}') == '{"name":"Zoë"}'.encode()
    assert as_bytes("\udcff") == b"\xff"  # a body kombu decoded with surrogateescape gets its bytes back


def test_other_transports_ack_one_message_at_a_time():
    batch = [Message(i, b"{}", channel=object()) for i in range(1, 4)]
    ack_all(batch)
    assert all(m.acked for m in batch)


def test_amqp_acks_the_whole_batch_in_one_frame():
    channel = amqp.Channel.__new__(amqp.Channel)  # never opened: only its type and two attributes are read
    channel.connection = object()
    frames: list[tuple[int, bool]] = []
    channel.basic_ack = lambda tag, multiple=False: frames.append((tag, multiple))
    batch = [Message(i, b"{}", channel=channel) for i in (5, 6, 9)]
    ack_all(batch)
    assert frames == [(9, True)]
    assert [m._state for m in batch] == ["ACK"] * 3
    assert not any(m.acked for m in batch)


def test_an_amqp_channel_whose_connection_is_gone_acks_one_by_one():
    channel = amqp.Channel.__new__(amqp.Channel)
    channel.connection = None
    batch = [Message(i, b"{}", channel=channel) for i in (1, 2)]
    ack_all(batch)
    assert all(m.acked for m in batch)


# --- the prefetch window by bytes -----------------------------------------------------------------------------


class FakeConsumer:
    def __init__(self) -> None:
        self.calls: list = []

    def cancel(self) -> None:
        self.calls.append("cancel")

    def qos(self, prefetch_count: int) -> None:
        self.calls.append(("qos", prefetch_count))

    def consume(self) -> None:
        self.calls.append("consume")


MIB = 1024 * 1024


def test_the_window_is_two_batches_bytes_at_the_mean_body_size():
    ingest = IngestConsumer(connection=None, sessions=None, trigger=None, batch_size=1000, batch_bytes=16 * MIB)
    assert ingest.prefetch_for(MIB) == 32  # where it starts: as if every body were the largest stored
    assert ingest.prefetch_for(300) == 2000  # small events: two batches of 1,000, as before
    assert ingest.prefetch_for(10 * MIB) == 3
    assert ingest.prefetch_for(128 * MIB) == 2  # never less than two


def test_the_window_shrinks_at_once_and_grows_only_when_worth_a_new_consumer():
    ingest = IngestConsumer(connection=None, sessions=None, trigger=None, batch_size=1000, batch_bytes=16 * MIB)
    ingest.prefetch = 32
    consumer = FakeConsumer()
    ingest.adapt_prefetch(consumer, 300)
    assert consumer.calls == ["cancel", ("qos", 2000), "consume"] and ingest.prefetch == 2000
    consumer.calls.clear()
    ingest.adapt_prefetch(consumer, 320)  # still 2,000
    ingest.adapt_prefetch(consumer, 20_000)  # 1,677: less than a quarter smaller, not worth a new consumer
    assert consumer.calls == [] and ingest.prefetch == 2000
    ingest.adapt_prefetch(consumer, MIB)
    assert consumer.calls == ["cancel", ("qos", 32), "consume"] and ingest.prefetch == 32


def test_a_batch_counts_its_bytes_and_starts_again_from_zero(run):
    ingest, *_ = run([1])
    ingest.on_message(Message(1, b"x" * 100))
    ingest.on_message(Message(2, "y" * 50))
    assert ingest.buffered_bytes == 150
    ingest.commit_batch()
    assert ingest.buffered_bytes == 0
