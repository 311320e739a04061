"""The Experiment aggregate: every lifecycle transition and invariant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import DomainError
from domain.experiments.aggregate import Experiment, experiment_id
from domain.experiments.errors import (
    FrozenWhileRunning,
    InvalidConclusion,
    InvalidMetric,
    InvalidTraffic,
    InvalidTransition,
    InvalidVariants,
)
from domain.experiments.values import (
    Decision,
    Metric,
    MetricKind,
    MetricRole,
    Namespace,
    Status,
    Variant,
)
from tests.factories import conversion_metrics, two_variants

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def draft(**overrides) -> Experiment:
    spec = {"variants": two_variants(), "metrics": conversion_metrics(), **overrides}
    return Experiment.design("checkout-cta", "Checkout CTA", **spec)


def in_status(status: Status) -> Experiment:
    experiment = draft()
    if status == Status.DRAFT:
        return experiment
    experiment.start(T0)
    if status == Status.PAUSED:
        experiment.pause(T0)
    if status in (Status.STOPPED, Status.CONCLUDED):
        experiment.stop(T0)
    if status == Status.CONCLUDED:
        experiment.conclude(Decision.SHIP, "treatment", "won")
    return experiment


def replay(experiment: Experiment) -> Experiment:
    """Rebuild from the collected events, as the repository does."""
    events = experiment.collect_events()
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    return rebuilt


class TestDesign:
    def test_id_is_derived_from_key(self):
        assert draft().id == experiment_id("checkout-cta")

    def test_defaults(self):
        experiment = draft(tags=["b", "a", "a"])
        assert experiment.status == Status.DRAFT
        assert experiment.seed == "checkout-cta"
        assert experiment.hash_version == 2
        assert experiment.coverage == 1.0
        assert experiment.tags == ["a", "b"]

    def test_state_survives_replay(self):
        experiment = draft(namespace=Namespace("checkout", 0, 0.5))
        experiment.start(T0)
        experiment.change_traffic(weights={"control": 0.2, "treatment": 0.8})
        rebuilt = replay(experiment)
        assert rebuilt.variants == experiment.variants
        assert rebuilt.metrics == experiment.metrics
        assert rebuilt.namespace == Namespace("checkout", 0, 0.5)
        assert rebuilt.status == Status.RUNNING
        assert rebuilt.started_at == T0

    @pytest.mark.parametrize(
        ("overrides", "error", "message"),
        [
            (
                {"variants": [Variant("a", "A", 0.5), Variant("a", "B", 0.5)]},
                InvalidVariants,
                "Duplicate variant",
            ),
            ({"variants": [Variant("a", "A", -0.1)]}, InvalidVariants, ">= 0"),
            (
                {"metrics": [Metric("r", MetricRole.PRIMARY, MetricKind.RATIO)]},
                InvalidMetric,
                "numerator and a denominator",
            ),
            (
                {"metrics": [Metric("r", MetricRole.PRIMARY, MetricKind.RATIO, "x", "x")]},
                InvalidMetric,
                "by itself",
            ),
            (
                {"metrics": [Metric("m", MetricRole.PRIMARY, MetricKind.MEAN, numerator="x")]},
                InvalidMetric,
                "Only ratio",
            ),
            (
                {"metrics": [Metric("m", MetricRole.PRIMARY, MetricKind.MEAN, margin=0.1)]},
                InvalidMetric,
                "guardrail",
            ),
            *[
                (  # NaN and infinity were stored as JSON no strict reader takes
                    {
                        "metrics": [
                            Metric("c", MetricRole.PRIMARY, MetricKind.BINOMIAL),
                            Metric("lat", MetricRole.GUARDRAIL, MetricKind.MEAN, margin=margin),
                        ]
                    },
                    InvalidMetric,
                    "the margin must be a finite number >= 0",
                )
                for margin in (float("nan"), float("inf"), -1.0)
            ],
            (
                {"metrics": [Metric("m", MetricRole.PRIMARY, MetricKind.MEAN)] * 2},
                InvalidMetric,
                "Duplicate metric",
            ),
            ({"coverage": 0}, InvalidTraffic, "Coverage"),
            ({"coverage": 1.5}, InvalidTraffic, "Coverage"),
            ({"hash_version": 3}, InvalidTraffic, "hash_version"),
            ({"namespace": Namespace("n", 0.6, 0.4)}, InvalidTraffic, "Namespace"),
            ({"namespace": Namespace("n", 0.5, 0.5)}, InvalidTraffic, "non-empty"),
            ({"namespace": Namespace(" ", 0, 0.5)}, InvalidTraffic, "needs a name"),
            ({"namespace": Namespace("n", "0", 0.5)}, InvalidTraffic, "start must be a number"),
            # what a spec file can hold: refused before it is stored (the log keeps it for good)
            (
                {"variants": [Variant("a", "A", "0.5"), Variant("b", "B", 0.5)]},
                InvalidVariants,
                "weight must be a number",
            ),
            (
                {"variants": [Variant("a", 5, 0.5), Variant("b", "B", 0.5)]},
                InvalidVariants,
                "name must be a string",
            ),
            (
                {"variants": [Variant("a", "A", True), Variant("b", "B", 0.0)]},
                InvalidVariants,
                "weight must be a number",
            ),
            (
                {
                    "metrics": [
                        Metric(
                            "m", MetricRole.PRIMARY, MetricKind.BINOMIAL, higher_is_better="false"
                        )
                    ]
                },
                InvalidMetric,
                "higher_is_better must be true or false, not 'false'",
            ),
            (
                {"metrics": [Metric("m", MetricRole.GUARDRAIL, MetricKind.MEAN, margin="0.05")]},
                InvalidMetric,
                "margin must be a number or null",
            ),
            (
                {"metrics": [Metric("m", MetricRole.GUARDRAIL, MetricKind.MEAN, margin=True)]},
                InvalidMetric,
                "margin must be a number or null",
            ),
            (
                {"metrics": [Metric(7, MetricRole.PRIMARY, MetricKind.MEAN)]},
                InvalidMetric,
                "key must be a string",
            ),
            (
                {"metrics": [Metric("q", MetricRole.PRIMARY, MetricKind.QUANTILE, quantile="0.9")]},
                InvalidMetric,
                "quantile must be a number",
            ),
        ],
    )
    def test_invalid_definitions(self, overrides, error, message):
        with pytest.raises(error, match=message):
            draft(**overrides)

    def test_empty_key(self):
        with pytest.raises(DomainError, match="non-empty key"):
            Experiment.design(" ", "x")


class TestLifecycle:
    def test_full_path(self):
        experiment = draft()
        experiment.start(T0)
        assert experiment.status == Status.RUNNING and experiment.is_collecting
        experiment.pause(T0, "incident")
        assert experiment.status == Status.PAUSED and experiment.is_collecting
        experiment.resume(T0)
        assert experiment.status == Status.RUNNING
        experiment.stop(T0, "done")
        assert experiment.status == Status.STOPPED and experiment.stopped_at == T0
        assert not experiment.is_collecting
        experiment.conclude("ship", "treatment", "conversion +3%")
        assert experiment.status == Status.CONCLUDED
        assert experiment.conclusion.decision == Decision.SHIP
        assert experiment.conclusion.winner == "treatment"

    def test_stop_from_paused(self):
        experiment = in_status(Status.PAUSED)
        experiment.stop(T0)
        assert experiment.status == Status.STOPPED

    FORBIDDEN = [
        (action, status)
        for action, allowed in {
            "start": {Status.DRAFT},
            "pause": {Status.RUNNING},
            "resume": {Status.PAUSED},
            "stop": {Status.RUNNING, Status.PAUSED},
            "conclude": {Status.STOPPED},
        }.items()
        for status in Status
        if status not in allowed
    ]

    @pytest.mark.parametrize(("action", "status"), FORBIDDEN)
    def test_every_forbidden_transition(self, action, status):
        experiment = in_status(status)
        args = {"conclude": ("rollback", None, "r")}.get(action, (T0,))
        expected = "final" if status == Status.CONCLUDED else f"it is {status}"
        with pytest.raises(InvalidTransition, match=expected):
            getattr(experiment, action)(*args)

    def test_start_needs_two_variants(self):
        experiment = draft(variants=[Variant("control", "Control", 1.0)])
        with pytest.raises(InvalidVariants, match="add at least 2"):
            experiment.start(T0)

    def test_start_needs_weights_summing_to_one(self):
        experiment = draft(variants=[Variant("a", "A", 0.5), Variant("b", "B", 0.3)])
        with pytest.raises(InvalidTraffic, match=r"sum to 0\.8"):
            experiment.start(T0)

    def test_start_needs_primary_metric(self):
        experiment = draft(metrics=[Metric("m", MetricRole.SECONDARY, MetricKind.MEAN)])
        with pytest.raises(InvalidMetric, match="no primary metric"):
            experiment.start(T0)

    def test_conclude_rules(self):
        experiment = in_status(Status.STOPPED)
        with pytest.raises(InvalidConclusion, match="Unknown decision"):
            experiment.conclude("maybe", None, "")
        with pytest.raises(InvalidConclusion, match="winning variant"):
            experiment.conclude("ship", None, "")
        with pytest.raises(InvalidVariants, match="no variant 'nope'"):
            experiment.conclude("ship", "nope", "")
        with pytest.raises(InvalidConclusion, match="'rollback' decision ships no variant"):
            experiment.conclude("rollback", "treatment", "")
        experiment.conclude("inconclusive", None, "flat")
        assert experiment.conclusion.winner is None


class TestDefinitionChanges:
    def test_variants_and_metrics_editable_in_draft(self):
        experiment = draft()
        experiment.add_variant(Variant("v3", "Third", 0))
        experiment.add_metric(Metric("aov", MetricRole.SECONDARY, MetricKind.MEAN))
        experiment.remove_variant("v3")
        experiment.remove_metric("aov")
        assert experiment.variant_keys() == ["control", "treatment"]
        assert replay(experiment).variant_keys() == ["control", "treatment"]

    @pytest.mark.parametrize("status", [Status.RUNNING, Status.PAUSED, Status.STOPPED])
    @pytest.mark.parametrize(
        "change",
        [
            lambda e: e.add_variant(Variant("v3", "V3", 0)),
            lambda e: e.remove_variant("control"),
            lambda e: e.add_metric(Metric("x", MetricRole.SECONDARY, MetricKind.MEAN)),
            lambda e: e.remove_metric("revenue"),
        ],
    )
    def test_frozen_once_started(self, status, change):
        with pytest.raises(FrozenWhileRunning, match="frozen once started"):
            change(in_status(status))

    def test_unknown_variant_and_metric(self):
        experiment = draft()
        with pytest.raises(InvalidVariants, match="no variant 'x'"):
            experiment.remove_variant("x")
        with pytest.raises(InvalidMetric, match="no metric 'x'"):
            experiment.remove_metric("x")
        with pytest.raises(InvalidMetric, match="no metric 'x'"):
            experiment.metric("x")

    def test_details_change_in_any_status(self):
        experiment = in_status(Status.CONCLUDED)
        experiment.change_details(description="new", tags=["z", "a"])
        assert experiment.description == "new" and experiment.tags == ["a", "z"]
        with pytest.raises(InvalidTransition, match="Cannot change seed"):
            experiment.change_details(seed="x")


class TestTraffic:
    def test_running_weights_must_sum_to_one(self):
        experiment = in_status(Status.RUNNING)
        with pytest.raises(InvalidTraffic, match=r"sum to 1\.2"):
            experiment.change_traffic(weights={"control": 0.7})
        experiment.change_traffic(weights={"control": 0.3, "treatment": 0.7}, coverage=0.5)
        assert experiment.weights() == [0.3, 0.7] and experiment.coverage == 0.5

    def test_no_change_records_nothing(self):
        """A running experiment's split change starts an allocation period of the SRM check:
        asking for the current traffic (or the same values) must not start one."""
        experiment = in_status(Status.RUNNING)
        version, periods = experiment.version, experiment.allocation_periods()
        experiment.change_traffic()
        experiment.change_traffic(coverage=experiment.coverage, weights={"control": 0.5})
        assert experiment.version == version and experiment.allocation_periods() == periods
        experiment.change_traffic(weights={"control": 0.4, "treatment": 0.6})
        assert experiment.version == version + 1 and len(experiment.allocation_periods()) == 2

    def test_draft_weights_may_be_incomplete(self):
        experiment = draft()
        experiment.change_traffic(weights={"control": 0.9})
        assert experiment.weights() == [0.9, 0.5]

    @pytest.mark.parametrize("status", [Status.STOPPED, Status.CONCLUDED])
    def test_no_traffic_change_after_stop(self, status):
        with pytest.raises(InvalidTransition, match="before it stops"):
            in_status(status).change_traffic(coverage=0.5)

    def test_bad_values(self):
        experiment = draft()
        with pytest.raises(InvalidTraffic, match=">= 0"):
            experiment.change_traffic(weights={"control": -1})
        with pytest.raises(InvalidVariants, match="no variant 'x'"):
            experiment.change_traffic(weights={"x": 0.5})
        with pytest.raises(InvalidTraffic, match="Coverage"):
            experiment.change_traffic(coverage=2)


class TestAssignment:
    def test_assignment_matches_bucketing(self):
        from domain import bucketing

        experiment = draft()
        for user in ("u1", "u2", "u3", "alice"):
            variant, decision = experiment.assignment_for(user)
            n = bucketing.hash("checkout-cta", user, 2)
            expected = bucketing.choose_variation(n, bucketing.bucket_ranges(2, 1.0, [0.5, 0.5]))
            assert variant == ["control", "treatment"][expected]
            assert decision.hash_value == n

    def test_namespace_excludes(self):
        experiment = draft(namespace=Namespace("namespace1", 0, 0.4))
        excluded = [
            u
            for u in ("user-1", "user-2", "user-3", "user-4")
            if experiment.assignment_for(u)[0] is None
        ]
        # user-4 is the only one of these whose namespace hash is below 0.4
        assert excluded == ["user-1", "user-2", "user-3"]


def test_notes_are_kept_in_any_status():
    experiment = in_status(Status.CONCLUDED)
    experiment.add_note("Mobile users drove the lift.", "alice")
    assert experiment.notes == ["Mobile users drove the lift."]
    assert replay(experiment).notes == ["Mobile users drove the lift."]
    with pytest.raises(InvalidTransition, match="1 to 4000"):
        experiment.add_note("   ", "bob")
