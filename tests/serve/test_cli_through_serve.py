"""The CLI's read commands give the same answers with and without a running serve, and a
kill -9 of serve during catch-up loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from domain.experiments.values import Variant
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import METRICS, create_experiments
from tests.projections.test_resilience import _traffic
from tests.serve.conftest import env_for, neonblue, running_serve
from tests.support.postgres import PostgresCluster

KEY = "checkout-cta-contrast"
EMPTY = "no-traffic-yet"  # running, nobody exposed: every statistic is undefined
QUESTION = f"How is {KEY} doing?"


def strict_json(text: str) -> object:
    """JSON as browsers and jq read it: no NaN or Infinity literals."""

    def refuse(literal: str) -> object:
        raise AssertionError(f"{literal} is not JSON: {text[:300]}")

    return json.loads(text, parse_constant=refuse)


def answers(env: dict[str, str], cwd: Path) -> dict[str, object]:
    """What a user sees from each read command (volatile fields left out)."""

    def run(*args: str) -> object:
        done = neonblue(env, *args, cwd=cwd)
        assert done.returncode == 0, done.stdout + done.stderr
        return strict_json(done.stdout)

    def results(*args: str, key: str = KEY) -> object:
        """The scorecard without what depends on the wall clock (impact per day so far)."""
        card = run("results", key, *args, "--json")
        card.pop("days_observed")
        for row in card["rows"]:
            row.pop("impact")
        return card

    def segments(*args: str) -> object:
        """Segment rows without the answer's freshness (when it was computed)."""
        return run("segments", KEY, *args, "--json")["segments"]

    asked = run("ask", QUESTION, "--json")
    recommended = run("recommend", KEY, "--json")
    recommended["proposal"]["numbers"].pop("days_running")  # wall-clock time
    return {
        # one call per command and option set (each is a cold CLI twice): the defaults
        # through serve are checked in test_cli_serve_settings
        "results": results("--engine", "bayesian", "--no-cuped"),
        "ask": (asked["answer"], asked["parsed"], [c["tool"] for c in asked["sources"]]),
        "recommend": (recommended["proposal"], recommended["waiting_for_approval"]),
        "status": [p["name"] for p in run("projections", "status", "--json")],
        "segments": segments("--by", "device", "--metric", "revenue"),
        "undefined statistics": results("--engine", "frequentist", key=EMPTY),
    }


@pytest.mark.slow
def test_same_answers_with_and_without_serve(store_copy: Path, tmp_path: Path):
    env = env_for(store_copy)
    app = build_app(EventStoreSettings(data_dir=store_copy))
    variants = [Variant("control", "Control", 0.5), Variant("treatment", "New", 0.5)]
    app.create_experiment(EMPTY, "Nobody yet", variants=variants, metrics=list(METRICS))
    app.start_experiment(EMPTY)
    app.close()
    alone = answers(env, tmp_path)
    with running_serve(env, tmp_path) as serve:
        serve.wait_caught_up()
        served = answers(env, tmp_path)
        # the commands really went through serve (its API counted them)
        assert serve.health()["store"].endswith("events.db")
        metrics = __import__("httpx").get(f"{serve.url}/metrics", timeout=5).text
        assert 'neonblue_api_requests_total{endpoint="results",outcome="ok"} 2.0' in metrics
        assert 'neonblue_api_requests_total{endpoint="ask",outcome="ok"} 1.0' in metrics
        assert 'neonblue_api_requests_total{endpoint="segments",outcome="ok"} 1.0' in metrics
        wrong = neonblue(env, "segments", KEY, "--metric", "nope", cwd=tmp_path)
        assert wrong.returncode == 2 and "has no metric 'nope'; it has:" in wrong.stderr
        unknown = neonblue(env, "results", "no-such-experiment", cwd=tmp_path)
        assert unknown.returncode == 1
        assert "No experiment with key 'no-such-experiment'" in unknown.stderr
        assert "Traceback" not in unknown.stderr
        refused = neonblue(env, "projections", "rebuild", "analytics", cwd=tmp_path)
        assert refused.returncode == 2 and "owns these read models" in refused.stderr
    for name in alone:
        assert served[name] == alone[name], name
    assert {r["dimension"] for r in alone["segments"]} == {"device"}  # type: ignore[attr-defined]
    assert {r["metric"] for r in alone["segments"]} == {"revenue"}  # type: ignore[attr-defined]
    undefined = alone["undefined statistics"]["rows"][0]  # type: ignore[index]
    assert undefined["lift"] is None and undefined["ci_lower"] is None  # null, not NaN


@pytest.mark.slow
def test_kill_9_during_catch_up_loses_and_duplicates_nothing(
    postgres: PostgresCluster, tmp_path: Path
):
    url = postgres.url(postgres.create_database())
    app = build_app(EventStoreSettings(event_store=url))
    create_experiments(app)
    _traffic(app, 0, 3500)
    head = app.head()
    app.close()
    env = env_for(tmp_path, NEONBLUE_EVENT_STORE=url)
    # many small batches: a kill lands mid-way (the restart resumes with the default size)
    with running_serve({**env, "NEONBLUE_SERVE_BATCH_SIZE": "300"}, tmp_path) as serve:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = [p["position"] for p in serve.health()["projections"]]
            if any(0 < p < head for p in positions):
                break
            time.sleep(0.02)
        os.kill(serve.process.pid, signal.SIGKILL)
        serve.process.wait(30)
    assert any(0 < p < head for p in positions), f"no projection was mid-way: {positions}"
    with running_serve(env, tmp_path) as serve:
        caught_up = serve.wait_caught_up()
        assert [p["position"] for p in caught_up["projections"]] == [head] * 3
        code, output = serve.stop()
        assert code == 0, output
    # (the knowledge base is left out: its results summaries come from the analytics model
    # at the time a document is written, so it is not a pure function of the log)
    for name in ("analytics", "relational"):
        done = neonblue(env, "projections", "rebuild", name, "--verify", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verified: old and new read models are identical." in done.stdout, done.stdout
