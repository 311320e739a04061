"""Keys, ids and metric names are never cut in CLI tables, at 80 and 120 columns and in
files (rich renders a file or pipe at 80 columns)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from domain.analysis import VariantSums, build_scorecard
from domain.experiments.aggregate import Experiment
from domain.experiments.values import Metric, MetricKind, MetricRole, Variant
from domain.statistics import AnalysisOptions
from infrastructure.bootstrap import build_app
from infrastructure.cli.scorecards import scorecard_table
from infrastructure.settings import EventStoreSettings

LONG_KEY = "mobile-onboarding-checklist-with-a-much-longer-key"
VARIANTS = [Variant("control", "Control", 0.5), Variant("treatment", "Green", 0.5)]
METRICS = [
    Metric("conversion", MetricRole.PRIMARY, MetricKind.BINOMIAL),
    Metric(
        "page_load_ms", MetricRole.GUARDRAIL, MetricKind.MEAN, higher_is_better=False, margin=0.05
    ),
]


def rendered(width: int, renderable: object) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize("width", [80, 120])
def test_scorecard_keeps_variants_metrics_and_verdicts_whole(width: int):
    experiment = Experiment.design(LONG_KEY, "Long", variants=VARIANTS, metrics=METRICS)
    sums = {
        "control": VariantSums(5000, {"conversion": 500, "page_load_ms": 6e6}, {"conversion": 500, "page_load_ms": 7.5e9}),
        "treatment": VariantSums(5000, {"conversion": 600, "page_load_ms": 7.5e6}, {"conversion": 600, "page_load_ms": 1.2e10}),
    }  # fmt: skip
    card = build_scorecard(experiment, sums, AnalysisOptions(engine="sequential"))
    text = rendered(width, scorecard_table(card, truth=lambda row: "+20.0%"))
    assert "…" not in text
    for whole in ("treatment", "conversion", "page_load_ms", "+20.0%", "guardrail", "fail"):
        assert whole in text, text
    assert "sequential" in text  # the engine is named


def test_experiments_list_keeps_keys_whole_in_a_file(tmp_path: Path):
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    app.create_experiment(LONG_KEY, "A long name " * 4, variants=VARIANTS, metrics=METRICS,
                          tags=("onboarding", "mobile", "activation"), owner="mobile-team")  # fmt: skip
    app.close()
    listed = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "experiments", "list"],
        env={**os.environ, "NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )  # stdout is a pipe: rich renders 80 columns, as in a file
    assert listed.returncode == 0, listed.stderr
    assert LONG_KEY in listed.stdout and "…" not in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80


def _listing() -> object:
    from rich.table import Table

    from infrastructure.cli.tables import whole_rows

    table = Table("id", "experiment", "action", "variant", "state", "proposed")
    table.add_row("8674ecfe-9443-436f-bab3-ef74b347a63f", LONG_KEY, "fix_srm", "", "pending",
                  "2026-12-02 19:52")  # fmt: skip
    table.add_row("5f8f9ff9-4139-48da-8923-32537ff1cfed", "checkout", "ship", "treatment",
                  "pending", "2026-12-02 19:53")  # fmt: skip
    return whole_rows(table, "id", "experiment")


def test_a_listing_too_wide_for_the_screen_shows_each_row_as_a_block():
    """Not columns one letter wide: every word of every value stays on one line."""
    text = rendered(80, _listing())
    lines = [line.rstrip() for line in text.splitlines()]
    assert max(len(line) for line in lines) <= 80
    assert lines.count("action      fix_srm") == 1 and "variant     treatment" in lines
    for whole in ("8674ecfe-9443-436f-bab3-ef74b347a63f", LONG_KEY, "pending", "2026-12-02 19:53"):
        assert whole in text
    assert sum(line.startswith("id ") for line in lines) == 2  # one block per row


def test_a_listing_that_fits_is_one_table():
    text = rendered(160, _listing())
    header = next(line for line in text.splitlines() if "experiment" in line)
    assert all(name in header for name in ("id", "action", "variant", "state", "proposed"))
    assert "fix_srm" in text and "…" not in text


@pytest.mark.parametrize("width", [80, 120])
def test_segment_table_keeps_segments_whole_and_shows_values_as_text(width: int):
    """A segment value is whatever a producer sent: it is shown, never read as markup; an
    interval without statistics stays visible (``[n/a, n/a]`` is no markup tag either)."""
    from infrastructure.cli.projections import segment_table

    def row(segment: str, lift: float | None, q: float | None) -> dict[str, object]:
        return {
            "experiment_id": LONG_KEY, "metric": "conversion", "statistic": "rate",
            "dimension": "country", "segment": segment, "variant": "treatment", "users": 1234,
            "control_mean": 0.1, "variant_mean": None if lift is None else 0.1 * (1 + lift),
            "relative_lift": lift, "ci_lower": None if lift is None else lift - 0.05,
            "ci_upper": None if lift is None else lift + 0.05, "p_value": q, "q_value": q,
            "significant": q is not None and q < 0.05,
        }  # fmt: skip

    rows = [
        row("[bold]DE[/bold]", 0.2, 0.01),
        row("a-very-long-region-name-of-a-producer", None, None),
    ]
    text = rendered(width, segment_table(LONG_KEY, rows))
    assert "…" not in text
    for whole in ("country=[bold]DE[/bold]", "country=a-very-long-region-name-of-a-producer",
                  "+20.0%", "[n/a,", "0.01 *", "across the 2 rows", "rate"):  # fmt: skip
        assert whole in text, text
