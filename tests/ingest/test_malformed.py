"""1,000 malformed messages (hypothesis) on a real broker: every one dead-lettered, with reason."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infrastructure.ingest.kafka import KafkaProducer
from infrastructure.ingest.runtime import dead_letters, kafka_loop
from infrastructure.ingest.simulate import TrafficPlan
from tests.ingest.conftest import IngestEnv, setup_portfolio
from tests.ingest.support import recorded_event_ids, topic_for

VALID = {
    "event_id": "e",
    "user_id": "u",
    "experiment_id": "checkout-cta-contrast",
    "event_type": "exposure",
    "timestamp": "2026-01-02T00:00:00Z",
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def broken_events(draw: st.DrawFn) -> bytes:
    """A valid event with one required field dropped or given a wrong value."""
    event = dict(VALID, event_id=draw(st.uuids()).hex)
    field = draw(st.sampled_from(sorted(VALID)))
    if draw(st.booleans()):
        del event[field]
    else:
        bad = st.lists(st.integers(), max_size=2) | st.just("") | st.none()
        if field == "timestamp":  # (integers are valid epoch seconds)
            bad = bad | st.just("yesterday") | st.just("2026-01-02T00:00:00")  # naive
        else:
            bad = bad | st.integers()
        event[field] = draw(bad)
    return json.dumps(event).encode()


@st.composite
def unknown_experiments(draw: st.DrawFn) -> bytes:
    key = "missing-" + draw(st.text("abcdefghij", min_size=1, max_size=10))
    return json.dumps(dict(VALID, event_id=draw(st.uuids()).hex, experiment_id=key)).encode()


malformed = st.one_of(
    st.binary(min_size=0, max_size=40).filter(lambda b: not b.strip().startswith(b"{")),
    json_values.map(lambda v: json.dumps(v).encode()),
    broken_events(),
    unknown_experiments(),
)


def test_malformed_messages_are_all_dead_lettered_with_reasons(env: IngestEnv) -> None:
    app = env.app()
    setup_portfolio(app, TrafficPlan(experiments=1))
    drawn: list[bytes] = []

    @settings(max_examples=1000, database=None, suppress_health_check=list(HealthCheck))
    @given(malformed)
    def collect(value: bytes) -> None:
        drawn.append(value)

    collect()
    assert len(drawn) == 1000
    topic = topic_for(env.kafka, "user_events")
    producer = KafkaProducer(env.kafka)
    for index, value in enumerate(drawn):
        producer.produce(topic, value, f"k{index % 50}".encode())
    producer.close()

    stats = kafka_loop(app, env.kafka).run(until_idle=3.0)

    letters = dead_letters(env.kafka, 5000)
    assert stats.dead_lettered == 1000 and len(letters) == 1000
    assert sorted(d.original or b"" for d in letters) == sorted(drawn)
    assert all(d.reason and d.source_topic == topic for d in letters)
    assert {d.kind for d in letters} <= {"not_json", "schema", "unknown_experiment"}
    assert not recorded_event_ids(app)  # ingest kept running and recorded none of them
    app.close()
