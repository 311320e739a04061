"""The fast (orjson) event-state encoder: same decoded state as the library's exact path,
used only where no UUID can hide, and falling back where orjson cannot write a value."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.domain import Aggregate
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.participation.aggregate import Participation
from domain.values import JsonObject
from infrastructure.application import NeonBlue
from infrastructure.transcoding import FastMapper, NonFiniteNumber, uuid_free, uuid_free_event

T0 = datetime(2026, 3, 1, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


class Widget(Aggregate):
    class Tagged(Aggregate.Event):
        owner: UUID
        note: str

    class Noted(Aggregate.Event):
        payload: dict[str, Any]

    def tag(self, owner: UUID) -> None:
        self.trigger_event(self.Tagged, owner=owner, note="n")

    def note(self, payload: dict[str, Any]) -> None:
        self.trigger_event(self.Noted, payload=payload)


@pytest.fixture(scope="module")
def app() -> NeonBlue:
    return NeonBlue(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def test_type_rules():
    assert uuid_free(str | None) and uuid_free(list[int]) and uuid_free(tuple[str, ...])
    assert uuid_free(JsonObject) and uuid_free(dict[str, float])
    assert not uuid_free(UUID) and not uuid_free(list[UUID]) and not uuid_free(dict[str, UUID])
    assert not uuid_free(Any) and not uuid_free(dict[str, Any]) and not uuid_free(list)
    assert uuid_free_event(Participation.MetricRecorded)
    assert not uuid_free_event(Widget.Tagged) and not uuid_free_event(Widget.Noted)


@given(
    context=st.dictionaries(st.text(), json_values, max_size=5),
    value=st.floats(-1e12, 1e12),
    at=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.timezones()
        | st.builds(lambda s: timezone(timedelta(seconds=s)), st.integers(-86399, 86399)),
    ),
)
def test_fast_path_decodes_to_the_exact_state(
    app: NeonBlue, context: dict[str, Any], value: float, at: datetime
):
    p = Participation.enroll("exp", "user-1", "control", "sdk", at)
    p.record_metric("m1", "revenue", value, at, context=context)
    enrolled, recorded = p.collect_events()
    for event in (enrolled, recorded):
        fast = FastMapper.to_stored_event(app.mapper, event)
        exact = super(FastMapper, app.mapper).to_stored_event(event)
        assert fast.topic == exact.topic and fast.originator_version == exact.originator_version
        decode = app.mapper.transcoder.decode
        assert decode(fast.state) == decode(exact.state)
        assert decode(fast.state)["at"].utcoffset() == at.utcoffset()
        assert decode(fast.state)["at"].isoformat() == at.isoformat()


@settings(max_examples=500)
@given(at=st.datetimes(timezones=st.none() | st.timezones()))
def test_orjson_writes_datetimes_as_isoformat_does(at: datetime):
    """What `FastMapper` relies on when it leaves a datetime's text to orjson."""
    offset = at.utcoffset()
    if offset is None or not offset % timedelta(minutes=1):
        assert orjson.loads(orjson.dumps(at)) == at.isoformat()


def test_uuid_fields_keep_their_type(app: NeonBlue):
    widget = Widget()
    owner = uuid4()
    widget.tag(owner)
    widget.note({"id": owner, "big": 2**80})
    _, tagged, noted = widget.collect_events()
    decode = app.mapper.transcoder.decode
    tagged_state = decode(FastMapper.to_stored_event(app.mapper, tagged).state)
    noted_state = decode(FastMapper.to_stored_event(app.mapper, noted).state)
    assert isinstance(tagged_state["owner"], UUID) and tagged_state["owner"] == owner
    assert noted_state["payload"] == {"id": owner, "big": 2**80}


def test_values_orjson_cannot_write_fall_back_to_the_exact_encoder(app: NeonBlue):
    state = {"at": T0, "n": 2**80}
    assert app.mapper.transcoder.decode(app.mapper.transcoder.encode_uuid_free(state)) == state


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_number_is_refused_and_nothing_is_stored(app: NeonBlue, number: float):
    """The exact path wrote NaN/Infinity, which is not JSON: projections reading with a
    strict parser stopped at that event for good."""
    widget = Widget()
    app.save(widget)
    widget.note({"margin": number})
    with pytest.raises(NonFiniteNumber, match="non-finite number"):
        app.save(widget)
    assert [type(e) for e in app.repository.get(widget.id).collect_events()] == []
    assert app.repository.get(widget.id).version == 1


def test_a_stored_non_finite_number_does_not_stop_the_log_reader(tmp_path):
    """Stores written before the refusal may hold ``Infinity``: the projections' reader
    reads it as the library does, instead of failing at it on every batch."""
    from infrastructure.bootstrap import build_app
    from infrastructure.settings import EventStoreSettings
    from projections.log import LogReader
    from tests.factories import two_variants

    settings = EventStoreSettings(data_dir=tmp_path, event_store="")
    store = build_app(settings)
    store.create_experiment("k", "K", variants=two_variants())
    store.close()
    with sqlite3.connect(tmp_path / "events.db") as db:  # as an older version wrote it
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_version = 1"
        ).fetchone()
        assert b'"coverage":1.0' in state
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_version = 1",
            (state.replace(b'"coverage":1.0', b'"coverage":Infinity'),),
        )
    reopened = build_app(settings)
    (event,) = LogReader(reopened).read(1, 10)
    assert event.data["coverage"] == float("inf")
    reopened.close()
