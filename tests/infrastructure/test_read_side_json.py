"""Answers travel as strict JSON: an undefined statistic is null on the wire and NaN again
when the CLI renders a scorecard, so served and local answers render alike."""

from __future__ import annotations

import json
import math
from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole
from domain.statistics import AnalysisOptions
from infrastructure.cli.scorecards import scorecard_table
from infrastructure.read_side import dumps, jsonable, scorecard_of
from tests.factories import two_variants

METRICS = [
    Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
    Metric("page_load_ms", MetricRole.GUARDRAIL, MetricKind.MEAN),
]


def strict(text: str) -> object:
    def refuse(literal: str) -> object:
        raise ValueError(f"{literal} is not JSON")

    return json.loads(text, parse_constant=refuse)


def same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_every_answer_is_strict_json_with_undefined_numbers_as_null(value):
    parsed = strict(dumps(value))

    def expected(v: object) -> object:
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, dict):
            return {k: expected(x) for k, x in v.items()}
        if isinstance(v, list):
            return [expected(x) for x in v]
        return v

    assert same(parsed, expected(value))


def test_a_scorecard_without_users_renders_from_its_json():
    experiment = Experiment.design("e", "E", variants=two_variants(), metrics=METRICS)
    empty = {"control": VariantSums(users=0), "treatment": VariantSums(users=0)}
    card = build_scorecard(experiment, empty, AnalysisOptions(engine="frequentist"))
    wire = jsonable({"scorecard": asdict(card)})
    row = wire["scorecard"]["rows"][0]
    assert math.isnan(card.rows[0].lift) and row["lift"] is None  # null on the wire
    back = scorecard_of(wire)
    # a statistic declared a number is NaN again (renderers test it with math.isfinite);
    # an optional one (a p-value the analysis could not compute) stays null
    assert math.isnan(back.rows[0].lift) and math.isnan(back.srm.chi_square)
    assert back.rows[0].p_value is None
    assert jsonable(asdict(back)) == wire["scorecard"]  # the round trip is stable
    console = Console(width=120, record=True)
    console.print(scorecard_table(back))
    assert "n/a" in console.export_text()
