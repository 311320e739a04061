"""Participation: sticky assignment, duplicate event ids, exclusions, data-quality events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.participation.aggregate import (
    AssignmentSource,
    Exclusion,
    Participation,
    participation_id,
)
from domain.participation.errors import InvalidMetricValue

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def enrolled(variant: str | None = "control") -> Participation:
    return Participation.enroll("exp", "user-1", variant, AssignmentSource.BUCKETING, T0)


def test_id_is_deterministic_and_distinct():
    assert enrolled().id == participation_id("exp", "user-1")
    assert participation_id("exp", "user-1") != participation_id("exp", "user-2")
    assert participation_id("a", "bc") != participation_id("ab", "c")


def test_exposure_then_metric_counts():
    p = enrolled()
    assert p.expose("e1", T0)
    assert p.record_metric("m1", "conversion", 1, T0 + timedelta(minutes=1))
    events = p.collect_events()
    assert [type(e).__name__ for e in events] == ["Enrolled", "Exposed", "MetricRecorded"]
    assert events[-1].excluded is None
    assert p.first_exposed_at == T0 and p.exposures == 1


def test_duplicate_event_ids_are_ignored():
    p = enrolled()
    assert p.expose("e1", T0)
    assert not p.expose("e1", T0)
    assert p.record_metric("m1", "revenue", 9.5, T0)
    assert not p.record_metric("m1", "revenue", 9.5, T0)
    assert not p.expose("m1", T0)  # ids are unique across kinds
    assert p.exposures == 1
    assert len(p.collect_events()) == 3


def test_metric_before_exposure_is_excluded():
    p = enrolled()
    p.record_metric("m0", "conversion", 1, T0)
    p.expose("e1", T0 + timedelta(seconds=1))
    p.record_metric("m1", "conversion", 1, T0 + timedelta(seconds=2))
    recorded = [e for e in p.collect_events() if type(e).__name__ == "MetricRecorded"]
    assert [e.excluded for e in recorded] == [Exclusion.BEFORE_EXPOSURE, None]


def test_metric_after_stop_is_excluded():
    p = enrolled()
    p.expose("e1", T0)
    stopped = T0 + timedelta(days=1)
    p.record_metric("m1", "conversion", 1, stopped - timedelta(seconds=1), stopped_at=stopped)
    p.record_metric("m2", "conversion", 1, stopped, stopped_at=stopped)
    recorded = [e for e in p.collect_events() if type(e).__name__ == "MetricRecorded"]
    assert [e.excluded for e in recorded] == [None, Exclusion.AFTER_STOP]


def test_unassigned_user_metrics_are_excluded():
    p = enrolled(variant=None)
    p.expose("e1", T0)
    p.record_metric("m1", "conversion", 1, T0)
    assert p.collect_events()[-1].excluded == Exclusion.NOT_ASSIGNED


def test_variant_mismatch_is_a_data_quality_event():
    p = enrolled("control")
    assert p.expose("e1", T0, seen_variant="control")
    assert p.expose("e2", T0, seen_variant="treatment")
    last = p.collect_events()[-1]
    assert type(last).__name__ == "VariantMismatch"
    assert (last.assigned, last.seen) == ("control", "treatment")
    assert p.variant == "control" and p.mismatches == 1 and p.exposures == 1


@given(st.lists(st.sampled_from(["e1", "e2", "e3", "m1", "m2"]), max_size=30))
def test_each_event_id_recorded_at_most_once(event_ids):
    p = enrolled()
    for event_id in event_ids:
        if event_id.startswith("e"):
            p.expose(event_id, T0)
        else:
            p.record_metric(event_id, "conversion", 1, T0)
    recorded = [e.event_id for e in p.collect_events()[1:]]
    assert recorded == list(dict.fromkeys(event_ids))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_metric_values_are_rejected(value: float):
    p = enrolled()
    with pytest.raises(InvalidMetricValue, match="finite"):
        p.record_metric("m1", "revenue", value, T0)
    assert not p.has_seen("m1")
