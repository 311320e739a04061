"""One data directory, several processes: `serve` follows the log while `simulate` ingests
into the same store, the operations page rebuilds every read model meanwhile, and clients
ask for results all along. Nothing fails, and afterwards serve's answers and every read
model equal what a fresh process builds from the log alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from infrastructure.bootstrap import build_app
from infrastructure.log_statistics import variant_sums
from infrastructure.serve.discovery import share_data_dir
from infrastructure.settings import EventStoreSettings
from tests.projections.scenario import create_experiments
from tests.projections.test_resilience import _traffic
from tests.serve.conftest import env_for, neonblue, running_serve
from tests.support.chdb import chdb_held
from tests.support.postgres import PostgresCluster, free_port

KEYS = ("alpha", "checkout-cta-contrast")  # one written before, one by the simulation
PROJECTIONS = ("analytics", "relational", "knowledge")


def _card(body: dict) -> str:
    """The scorecard without what depends on the wall clock (impact per day so far)."""
    card = body.get("scorecard", body)
    card.pop("days_observed", None)
    for row in card.get("rows", []):
        row.pop("impact", None)
    return json.dumps(card, sort_keys=True)


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_serve_simulate_rebuilds_and_readers_on_one_store(
    store: str, tmp_path: Path, request: pytest.FixtureRequest
):
    data = tmp_path / "data"
    data.mkdir()
    url = ""
    if store == "postgres":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        url = cluster.url(cluster.create_database())
    settings = EventStoreSettings(data_dir=data, event_store=url)
    app = build_app(settings)
    create_experiments(app)
    _traffic(app, 0, 600)
    app.close()
    # many small batches: more interleaving with ingest and the rebuilds
    env = {**env_for(data, NEONBLUE_EVENT_STORE=url), "NEONBLUE_SERVE_BATCH_SIZE": "1000"}
    with running_serve(env, tmp_path) as serve:
        simulate = subprocess.Popen(
            [sys.executable, "-m", "infrastructure.cli", "simulate", "--experiments", "2",
             "--users", "300", "--seed", "3"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        failures: list[tuple[str, int, str]] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                for key in KEYS:
                    answer = httpx.get(f"{serve.url}/api/results?experiment={key}", timeout=120)
                    if answer.status_code not in (200, 422):  # 422: not created yet
                        failures.append((key, answer.status_code, answer.text[:300]))
                stop.wait(0.1)  # a client's pace: back to back, they starved the rebuilds

        readers = [threading.Thread(target=read) for _ in range(2)]
        for reader in readers:
            reader.start()
        with httpx.Client(base_url=serve.url, timeout=60) as page:
            found = re.search(r'name="csrf" value="([^"]+)"', page.get("/operations").text)
            assert found is not None
            for name in PROJECTIONS:  # while ingest appends
                started = page.post(
                    "/operations/rebuild", data={"csrf": found.group(1), "projection": name}
                )
                assert started.status_code < 400, started.text[:300]
            output, _ = simulate.communicate(timeout=300)
            assert simulate.returncode == 0, output
            assert "Traceback" not in output
            deadline = time.monotonic() + 180
            while True:
                states = re.findall(
                    r'data-projection="(\w+)" data-state="(\w+)"', page.get("/operations").text
                )
                if {n for n, s in states if s == "done"} >= set(PROJECTIONS):
                    break
                failed = [s for _, s in states if s == "failed"]
                assert not failed, (states, serve.output()[-4000:])
                assert time.monotonic() < deadline, (states, serve.output()[-4000:])
                time.sleep(0.5)
        stop.set()
        for reader in readers:
            reader.join(timeout=120)
        assert failures == []
        health = serve.wait_caught_up()
        assert all(p["error"] is None for p in health["projections"]), health
        served = {
            key: _card(httpx.get(f"{serve.url}/api/results?experiment={key}", timeout=120).json())
            for key in KEYS
        }
        code, output = serve.stop()
    assert code == 0, output
    assert "Traceback" not in output and "failed" not in output, output[-3000:]

    # a fresh process, from the log alone
    for key in KEYS:
        alone = neonblue(env, "results", key, "--json", cwd=tmp_path)
        assert alone.returncode == 0, alone.stderr
        assert _card(json.loads(alone.stdout)) == served[key], key
    for name in ("analytics", "relational"):
        done = neonblue(env, "projections", "rebuild", name, "--verify", cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "verified: old and new read models are identical." in done.stdout, done.stdout
    app = build_app(settings)
    try:
        users = {v: s.users for v, s in variant_sums(app, "alpha")["alpha"].items()}
    finally:
        app.close()
    assert json.loads(served["alpha"])["users"] == users  # each event counted once


def _small_store(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An embedded store with the scenario's experiments and a little traffic."""
    data = tmp_path / "data"
    data.mkdir()
    app = build_app(EventStoreSettings(data_dir=data, event_store=""))
    create_experiments(app)
    _traffic(app, 0, 50)
    app.close()
    return data, env_for(data)


def test_a_second_serve_for_the_same_data_refuses_and_leaves_the_first_in_charge(
    tmp_path: Path,
):
    """It used to start (status ok, its analytics unable to open chDB), point serve.json at
    itself, and remove it when stopped: commands then found no serve and failed on the
    chDB the first one holds."""
    data, env = _small_store(tmp_path)
    with running_serve(env, tmp_path) as serve:
        serve.wait_caught_up()
        marker = (data / "serve.json").read_text()
        second = neonblue(env, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"already runs for {data} at {serve.url}" in second.stderr, second.stderr
        assert "Traceback" not in second.stdout + second.stderr
        assert (data / "serve.json").read_text() == marker
        through_first = neonblue(env, "results", "alpha", "--json", cwd=tmp_path)
        assert through_first.returncode == 0, through_first.stderr
        assert "Serving" not in second.stderr
        code, output = serve.stop()
    assert code == 0, output
    restarted = neonblue(env, "serve", "--port", "0", "--host", "256.0.0.1", cwd=tmp_path)
    assert "already runs" not in restarted.stderr  # the lock went with the first serve


def test_a_command_run_while_serve_starts_goes_through_it(tmp_path: Path):
    """serve takes the data directory and opens the read models before it listens: a
    command started meanwhile found no serve.json, then chDB held ("in use by another
    process", exit 2). serve now says it is starting, and the command waits for it."""
    data, env = _small_store(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "infrastructure.cli", "serve", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while (held := share_data_dir(data)) is not None and time.monotonic() < deadline:
            held.close()  # not yet taken by serve
            time.sleep(0.01)
        assert json.loads((data / "serve.json").read_text())["starting"] is True
        answered = neonblue(env, "results", "alpha", "--json", cwd=tmp_path)
        assert answered.returncode == 0, answered.stderr
        assert json.loads(answered.stdout)["experiment_key"] == "alpha"
        assert "in use" not in answered.stderr  # it may have said "Waiting for `neonblue serve`"
        assert "starting" not in json.loads((data / "serve.json").read_text())
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0 and b"Traceback" not in stderr, stderr.decode()[-2000:]
    assert not (data / "serve.json").exists()


def test_serve_started_while_another_process_holds_chdb_catches_up_once_it_is_free(
    tmp_path: Path,
):
    """A command that catches up by itself (`results` without serve, `projections rebuild`)
    may hold the embedded chDB for a few seconds as serve starts: serve then follows the
    log with analytics too once the other process is gone, not never."""
    data, env = _small_store(tmp_path)
    with chdb_held(data / "chdb", env, tmp_path) as release, running_serve(env, tmp_path) as serve:
        deadline = time.monotonic() + 60
        while True:
            analytics = next(p for p in serve.health()["projections"] if p["name"] == "analytics")
            if analytics["error"]:
                break
            assert time.monotonic() < deadline, analytics
            time.sleep(0.2)
        assert "in use by another process" in analytics["error"]
        release()  # the other process is done
        health = serve.wait_caught_up(timeout=30)
        assert all(p["error"] is None for p in health["projections"]), health
        results = httpx.get(f"{serve.url}/api/results?experiment=alpha", timeout=60)
        assert results.status_code == 200, results.text[:300]
        code, output = serve.stop()
    assert code == 0, output
    assert "Traceback" not in output, output[-3000:]  # the waits are one-line messages


def test_serve_and_a_projections_command_never_hold_the_read_models_together(
    tmp_path: Path,
):
    """`projections rebuild` checked for a serve, then worked: a serve starting in between
    opened the same embedded read models. Now each holds the data directory's lock for
    its whole run (serve exclusive, projections commands shared)."""
    from infrastructure.serve.discovery import hold_data_dir, share_data_dir

    data, env = _small_store(tmp_path)
    rebuilding = share_data_dir(data)  # as `projections rebuild` holds it meanwhile
    assert rebuilding is not None
    try:
        refused = neonblue(env, "serve", "--port", str(free_port()), cwd=tmp_path, timeout=60)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "a `neonblue projections` rebuild, run or gc" in " ".join(refused.stderr.split())
        assert not (data / "serve.json").exists()
    finally:
        rebuilding.close()
    starting = hold_data_dir(data)  # a serve that has not written serve.json yet
    assert starting is not None
    try:
        waits = neonblue(env, "projections", "rebuild", "analytics", cwd=tmp_path, timeout=60)
        assert waits.returncode == 2, waits.stdout + waits.stderr
        assert "`neonblue serve` is starting" in waits.stderr
    finally:
        starting.close()
    rebuilt = neonblue(env, "projections", "rebuild", "analytics", cwd=tmp_path, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
