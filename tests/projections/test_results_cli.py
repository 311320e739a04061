"""`neonblue results` end to end, in a subprocess (chDB allows one data dir per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.participation.commands import RecordExposure, RecordMetric
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import START, create_experiments

ROOT = Path(__file__).parents[2]


def test_results_json_matches_the_log(tmp_path: Path) -> None:
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    create_experiments(app)
    batch = []
    for i in range(300):
        batch.append(RecordExposure("alpha", f"u{i}", f"x{i}", START))
        if i % 4 == 0 or (i % 2 and i % 3 == 0):
            batch.append(RecordMetric("alpha", f"u{i}", f"c{i}", START, "conversion"))
    app.record(batch)
    app.close()
    env = {**os.environ, "NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": ""}
    done = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "results", "alpha", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    card = json.loads(done.stdout)
    assert sum(card["users"].values()) == 300
    primary = next(r for r in card["rows"] if r["metric"] == "conversion")
    assert primary["role"] == "primary" and primary["error"] == ""
    assert 0 < primary["control_mean"] < 1
    table = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "results", "alpha"],
        cwd=ROOT, env={**env, "COLUMNS": "160"}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert table.returncode == 0, table.stderr
    assert "adj. p / P(win)" in table.stdout
    assert "p adjusted for the number of metrics (Holm)" in table.stdout
    assert "impact / day [CI]" in table.stdout
    impact = primary["impact"]  # a running experiment: projected from its start until now
    assert impact["units_per_day"] > 0 and impact["planned_days"] == 28
    effect = primary["variant_mean"] - primary["control_mean"]
    assert impact["per_day"] == pytest.approx(impact["units_per_day"] * effect, rel=1e-12)
