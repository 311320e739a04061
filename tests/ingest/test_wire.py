"""Decoding bounds, seed-format extras and dead-letter envelopes (no servers)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from infrastructure.ingest.bus import Record
from infrastructure.ingest.dead_letters import REASON_LIMIT, DeadLetter
from infrastructure.ingest.wire import DEFAULT_LIMITS, MAX_DEPTH, InvalidMessage, Limits, decode

SEED = {
    "event_id": "e1",
    "user_id": "u1",
    "experiment_id": "checkout-cta-contrast",
    "event_type": "exposure",
    "timestamp": "2026-01-02T00:00:00Z",
}


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


def kind_of(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    with pytest.raises(InvalidMessage) as caught:
        decode(raw, limits)
    assert caught.value.reason
    return caught.value.kind


def test_seed_events_keep_extra_fields_under_properties() -> None:
    raw = json.dumps({**SEED, "session_id": "s-9", "variant": "b", "value": 2}).encode()
    event = decode(raw)
    assert event.properties == {"session_id": "s-9"}
    assert (event.variant, event.value, event.schema_version) == ("b", 2.0, 2)


def test_seed_extras_merge_with_seed_properties() -> None:
    raw = json.dumps({**SEED, "properties": {"segment": {"a": 1}}, "device": "ios"}).encode()
    assert decode(raw).properties == {"segment": {"a": 1}, "device": "ios"}


def test_version_2_still_forbids_unknown_fields() -> None:
    raw = json.dumps({**SEED, "schema_version": 2, "session_id": "s"}).encode()
    assert kind_of(raw) == "schema"


@pytest.mark.parametrize("field", ["properties", "routing_metadata", "semantic_context"])
def test_nesting_beyond_the_limit_is_too_deep(field: str) -> None:
    shallow = {**SEED, field: {"x": nested(MAX_DEPTH - 3)}}
    decode(json.dumps(shallow).encode())  # within the bound: accepted
    deep = {**SEED, field: {"x": nested(300)}}
    assert kind_of(json.dumps(deep).encode()) == "too_deep"


def test_nesting_beyond_orjsons_own_limit_is_too_deep() -> None:
    assert kind_of(b"[" * 5000 + b"]" * 5000, Limits(max_depth=10_000)) == "too_deep"


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    event = decode(json.dumps({**SEED, "properties": {"note": "{[" * 500}}).encode())
    assert event.properties["note"].startswith("{[")


def test_messages_over_the_size_limit_are_too_large() -> None:
    assert kind_of(b"z" * 800_000) == "too_large"
    assert kind_of(json.dumps({**SEED, "properties": {"p": "x" * 100}}).encode(), Limits(64)) == (
        "too_large"
    )


def test_an_oversize_dead_letter_keeps_a_prefix_its_length_and_hash() -> None:
    original = json.dumps({**SEED, "event_id": "x" * 1_048_576}).encode()
    record = Record("user_events", 3, 17, b"k" * 5000, original)
    letter = DeadLetter.of(record, "too_large", "big")
    key, envelope = letter.message(1_000_000)
    assert len(envelope) + len(key or b"") <= 1_000_000 - 1024
    on_topic = DeadLetter.decode(envelope)
    assert on_topic.truncated and key == b"k" * 1024
    assert original.startswith(on_topic.original or b"") and len(on_topic.original or b"") > 500_000
    assert on_topic.original_length == len(original)
    assert on_topic.original_sha256 == hashlib.sha256(original).hexdigest()
    assert on_topic.coordinates == ("user_events", 3, 17)


def test_a_small_dead_letter_travels_whole() -> None:
    letter = DeadLetter.of(Record("t", 0, 1, None, b"\xff not json"), "not_json", "bad")
    key, envelope = letter.message()
    assert key is None and DeadLetter.decode(envelope) == letter


def test_reasons_are_one_bounded_line_without_nul() -> None:
    letter = DeadLetter.of(Record("t", 0, 1, None, b"x"), "rejected", "a\x00b\n" + "c" * 5000)
    assert "\n" not in letter.reason and "\x00" not in letter.reason
    assert len(letter.reason) == REASON_LIMIT
