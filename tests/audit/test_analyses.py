"""Recorded analyses recompute exactly; old-format (v1) records are upcast on load."""

from __future__ import annotations

import json
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain.analysis.version import ENGINE_VERSION
from domain.audit import AnalysisRecord, AnalysisSettings
from infrastructure.application import NeonBlue
from infrastructure.audit.analyses import (
    analysis_record,
    analyze_and_publish,
    publish_results,
    recompute,
    recorded_analyses,
)
from infrastructure.audit.chain import GENESIS, seal_state
from infrastructure.audit.errors import AuditError, RecordNotFound
from infrastructure.audit.replay import replay
from infrastructure.audit.verify import verify_log
from projections.log import LogReader
from tests.audit.scenario import populate
from tests.audit.test_replay import traffic

SEQUENTIAL = AnalysisSettings(engine="sequential", alpha=0.1, correction="benjamini-hochberg")


def test_a_published_analysis_recomputes_exactly_after_more_traffic(app: NeonBlue):
    populate(app, users=12)
    app.resume_experiment("checkout")
    record_id, scorecard = analyze_and_publish(app, "checkout", SEQUENTIAL, publisher="agent")
    app.record(traffic("checkout", "late", 50, 2))  # the results would differ now
    result = recompute(app, record_id)
    assert result.matches, result.differences
    assert result.record.publisher == "agent" and result.record.engine_version == ENGINE_VERSION
    assert result.record.settings == SEQUENTIAL
    assert result.recomputed["users"] == scorecard.users
    now = replay(app, "checkout", settings=SEQUENTIAL)
    assert now.scorecard is not None and now.scorecard.users != scorecard.users


def test_a_changed_number_is_reported(app: NeonBlue):
    populate(app, users=12)
    state = replay(app, "checkout")
    assert state.scorecard is not None
    honest = analysis_record(app, publish_results(app, "checkout", state.scorecard, state.position))
    summary = json.loads(json.dumps(honest.summary))
    summary["rows"][0]["lift"] = 0.5  # a publisher that reported another lift
    forged = AnalysisRecord._create(
        AnalysisRecord.Published, experiment_key="checkout", position=honest.position,
        settings=honest.settings.as_dict(), engine_version=ENGINE_VERSION, publisher="mcp",
        summary=summary,
    )  # fmt: skip
    app.save(forged)
    assert recompute(app, honest.id).matches
    result = recompute(app, forged.id)
    metric = summary["rows"][0]["metric"]
    assert [d for d in result.differences if "lift" in d] == [
        f"{metric}/treatment lift: 0.5 != {honest.summary['rows'][0]['lift']!r}"
    ]
    assert [r.id for r in recorded_analyses(app, "checkout")] == [honest.id, forged.id]


def test_publishing_checks_settings_and_position(app: NeonBlue):
    populate(app)
    state = replay(app, "checkout")
    assert state.scorecard is not None
    with pytest.raises(AuditError, match="engine"):
        publish_results(app, "checkout", state.scorecard, state.position, SEQUENTIAL)
    with pytest.raises(AuditError, match="not in the log"):
        publish_results(app, "checkout", state.scorecard, app.head() + 10)
    with pytest.raises(RecordNotFound):
        recompute(app, uuid4())


def test_old_format_v1_records_are_upcast_when_loaded(app: NeonBlue):
    """A v1 record stored before ``publisher``/``settings`` existed, written as raw rows."""
    populate(app, users=10)
    state = replay(app, "checkout")
    assert state.scorecard is not None
    current = AnalysisRecord.publish(
        "checkout", state.position, AnalysisSettings(), ENGINE_VERSION, "x", state.scorecard
    )
    record_id = uuid4()
    v1_state = {  # what the v1 mapper stored: no class_version key, old field names
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-05-01T12:00:00+00:00"},
        "originator_topic": get_topic(AnalysisRecord),
        "experiment_key": "checkout",
        "position": state.position,
        "engine": "frequentist",
        "engine_version": "0.9.0",
        "source": "cli",
        "summary": current.summary,
    }
    payload = json.dumps(v1_state, separators=(",", ":")).encode()
    topic = get_topic(AnalysisRecord.Published)
    sealed, _ = seal_state(payload, GENESIS, record_id, 1, topic)
    app.recorder.insert_events([StoredEvent(record_id, 1, topic, sealed)])

    record = analysis_record(app, record_id)
    assert record.publisher == "cli"
    assert record.settings == AnalysisSettings(engine="frequentist")
    assert record.engine_version == "0.9.0"
    assert recompute(app, record_id).matches
    assert verify_log(app.recorder).ok
    assert b'"class_version":2' in app.mapper.to_stored_event(current.collect_events()[0]).state
    from_log = next(e for e in LogReader(app).read(1, 100_000) if e.topic == topic)
    assert from_log.data["publisher"] == "cli"  # projections see it upcast as well
    assert from_log.data["settings"] == {"engine": "frequentist"}
