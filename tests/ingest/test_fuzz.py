"""10,000 generated messages through the real ingest path (decode -> translate -> store).

Arbitrary bytes, JSON of any depth and size, and wire events with hostile values in every
field go through `IngestLoop` on the in-process bus into each event store: nothing
escapes, every message is stored, a duplicate, or dead-lettered once with a reason, and the
counts add up. The messages are drawn once per module and fed to every store.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infrastructure.bootstrap import build_app
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process, topic_records
from infrastructure.ingest.simulate import TrafficPlan, planned
from infrastructure.ingest.tables import tables_for
from infrastructure.settings import EventStoreSettings, KafkaSettings
from tests.ingest.conftest import setup_portfolio
from tests.ingest.support import RECORDED, deep, dumps
from tests.support.stores import store_url

# one worker draws the messages (10-17 s) and feeds every store; scattered over the xdist
# workers, each drew its own
pytestmark = pytest.mark.xdist_group("test_fuzz")
MESSAGES = 4_000  # generation by hypothesis costs ~4.6 ms a message
PLAN = TrafficPlan(experiments=2, users=10)
KEYS = [p.key for p in planned(PLAN)]
EVENT_TYPES = [
    *["exposure"] * 6,
    "experiment_viewed",
    *["conversion"] * 3,
    "purchase",
    "page_load",
    "metric",
    "experiment_paused",
    *["experiment_resumed"] * 2,
    "experiment_started",
    "scroll_depth",
    "video_played",
]  # fmt: skip (stopping an experiment would reject the rest of the stream)
KINDS = {
    "not_json", "too_large", "too_deep", "schema", "unknown_experiment", "rejected",
    "unprocessable",
}  # fmt: skip
TOPICS = ["experiments_events", "user_events", "analytics_events"]


hostile_text = st.text(max_size=8) | st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "\u202e", "'; DROP TABLE x; --", "{[" * 50,
     "x" * 257, "é" * 200, "🙂" * 100, "null", "NaN"]
)  # fmt: skip
hostile_scalar = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**63 - 2, max_value=2**80)
    | st.floats()
    | hostile_text
)
depths = st.integers(0, 40) | st.integers(41, 1500)
hostile_value = (
    hostile_scalar
    | st.lists(hostile_scalar, max_size=3)
    | st.dictionaries(hostile_text, hostile_scalar, max_size=3)
    | depths.map(deep)
    | st.dictionaries(hostile_text, depths.map(deep), max_size=2)
)
hostile_object = st.dictionaries(hostile_text, hostile_value, max_size=3)
BAD_TIMESTAMPS = [
    "2026-01-02T00:00:00", "2026-01-02T00:00:00+00:00:01", "yesterday", "",
    "2026-13-45T99:99:99Z", "9999-12-31T23:59:59-23:59",
]  # fmt: skip
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=23, minutes=59))]
)
timestamps = (
    st.sampled_from(["2026-01-02T00:00:00Z", "2026-01-03T12:30:00.123456+02:00"])
    | st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
    ).map(datetime.isoformat)
    | st.sampled_from(BAD_TIMESTAMPS)
)
fresh_ids = st.uuids().map(str)
event_ids = fresh_ids | fresh_ids | fresh_ids | st.sampled_from([f"reused-{i}" for i in range(40)])
user_ids = st.sampled_from(["u1", "u2", "u3"]) | st.uuids().map(str)
experiment_ids = st.sampled_from([*KEYS, "no-such-experiment"])
event_types = st.sampled_from(EVENT_TYPES)
OPTIONAL = {
    "variant": st.sampled_from(["control", "treatment", "a", "b"]),
    "metric": st.sampled_from(["conversion", "revenue", "page_load_ms", "x"]),
    "value": st.floats(allow_nan=False, allow_infinity=False) | st.integers(),
    "properties": st.fixed_dictionaries(
        {}, optional={"segment": hostile_value, "reason": hostile_value}
    ),
    "schema_version": st.sampled_from([1, 2, 3, "2", None]),
    "ai_classification": hostile_object,
    "semantic_context": hostile_object,
    "routing_metadata": hostile_object,
    "session_id": hostile_value,
}
optional_fields = st.lists(st.sampled_from(sorted(OPTIONAL)), max_size=3, unique=True)
spoiled_fields = st.lists(
    st.sampled_from(["event_id", "user_id", "experiment_id", "event_type", "timestamp",
                     *OPTIONAL]),
    max_size=2,
    unique=True,
)  # fmt: skip
keys = st.none() | st.binary(max_size=8) | st.sampled_from([b"u1", b"u2"])
topics = st.sampled_from(TOPICS)
binaries = st.binary(max_size=120)
shapes = st.sampled_from(["wire"] * 40 + ["bytes"] * 5 + ["json"] * 5 + ["big"])


@st.composite
def wire_events(draw: st.DrawFn) -> dict[str, Any]:
    """A plausible wire event, then a few fields made hostile, dropped or added."""
    event: dict[str, Any] = {
        "event_id": draw(event_ids),
        "user_id": draw(user_ids),
        "experiment_id": draw(experiment_ids),
        "event_type": draw(event_types),
        "timestamp": draw(timestamps),
    }
    for name in draw(optional_fields):
        event[name] = draw(OPTIONAL[name])
    for name in draw(spoiled_fields):
        if draw(st.booleans()):
            event.pop(name, None)
        else:
            event[name] = draw(hostile_value)
    return event


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, bytes | None, bytes]:
    """(topic, key, value): mostly wire events, else bytes, any JSON, or a big payload."""
    choice = draw(shapes)
    if choice == "big":
        size = min(2 ** draw(st.integers(10, 20)), 700_000)
        value = json.dumps({"event_id": "big", "properties": {"p": "x" * size}}).encode()
    elif choice == "bytes":
        value = draw(binaries)
    elif choice == "json":
        value = dumps(draw(hostile_value))
    else:
        value = dumps(draw(wire_events()))
    return draw(topics), draw(keys), value


@pytest.fixture(scope="module")
def drawn() -> list[tuple[str, bytes | None, bytes]]:
    found: list[tuple[str, bytes | None, bytes]] = []

    @settings(
        max_examples=MESSAGES // 25,
        database=None,
        derandomize=True,  # the same draw each run
        suppress_health_check=list(HealthCheck),
    )
    @given(st.lists(messages(), min_size=25, max_size=25))
    def collect(batch: list[tuple[str, bytes | None, bytes]]) -> None:
        found.extend(batch)

    collect()
    assert len(found) == MESSAGES
    return found


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgresql"])
def test_no_message_escapes_and_the_counts_add_up(
    kind: str,
    drawn: list[tuple[str, bytes | None, bytes]],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    app = build_app(EventStoreSettings(event_store=store_url(kind, tmp_path, request)))
    setup_portfolio(app, PLAN)
    bus = InProcessBus(partitions=4)
    for topic, key, value in drawn:
        bus.append(topic, value, key)
    settings = KafkaSettings(bootstrap_servers="", topics=tuple(TOPICS))

    stats = ingest_in_process(app, bus, settings)

    assert stats.consumed == MESSAGES
    assert stats.recorded + stats.duplicates + stats.unclassified + stats.dead_lettered == (
        MESSAGES
    )
    letters = tables_for(app).dead_letters(MESSAGES)
    assert len(letters) == stats.dead_lettered
    assert all(d.kind in KINDS and d.reason for d in letters)
    assert all(d.original is not None and len(d.original) == d.original_length for d in letters)
    published = Counter(d.coordinates for _, d in topic_records(settings, bus))
    assert sorted(published) == sorted(d.coordinates for d in letters)  # once each
    assert set(published.values()) <= {1}
    assert not tables_for(app).unpublished()
    stored_sources = Counter(
        (source["topic"], source["partition"], source["offset"])
        for entry in app.log(topics=RECORDED)  # type: ignore[attr-defined]
        for source in [entry.event.context["source"]]
    )
    stored_ids = Counter(entry.event.event_id for entry in app.log(topics=RECORDED))  # type: ignore[attr-defined]
    assert sum(stored_ids.values()) == stats.recorded + stats.unclassified
    assert max(stored_ids.values(), default=1) == 1  # an event id is stored once, globally
    assert max(stored_sources.values(), default=1) == 1
    assert not set(stored_sources) & set(published)  # stored or dead-lettered, never both
    # every kind of input was exercised
    assert stats.recorded > 100 and stats.duplicates > 10 and stats.unclassified > 10
    assert {"not_json", "too_deep", "too_large", "schema"} <= {d.kind for d in letters}
    app.close()
