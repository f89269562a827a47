"""One PUT's contents: the contacts it carries (each serialized once, with the deliveries it settles), its list
set, and the body sent. chunks.py builds requests, outcomes.py acts on SendGrid's answer to one."""

from __future__ import annotations

import json
from dataclasses import dataclass

from models import Delivery


@dataclass
class Outgoing:
    """One contact of a request: its merged fields, serialized body, and the deliveries it carries."""

    email: str
    fields: dict
    deliveries: list[Delivery]
    body: bytes = b""


@dataclass
class Chunk:
    list_ids: list[str]
    contacts: list[Outgoing]
    fields_refreshed: bool = False
    # SendGrid refused its custom fields: the flush refreshes their ids and serializes it again before sending.
    fields_refused: bool = False


def request_body(chunk: Chunk) -> bytes:
    head = b'{"list_ids":' + json.dumps(chunk.list_ids).encode() + b',"contacts":['
    return head + b",".join(out.body for out in chunk.contacts) + b"]}"
