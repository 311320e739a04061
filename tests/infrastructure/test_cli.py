"""The `neonblue` command line, run as a real subprocess like a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.participation.commands import RecordExposure
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings
from tests.support.postgres import PostgresCluster


def neonblue(env: dict[str, str], *args: str | bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        env={**os.environ, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": ""}


def create_checkout(env: dict[str, str]) -> None:
    result = neonblue(
        env,
        "experiments",
        "create",
        "checkout",
        "--name",
        "Checkout CTA",
        "--hypothesis",
        "Green converts better",
        "--tag",
        "web",
        "--variant",
        "control:Blue=0.5",
        "--variant",
        "green:Green=0.5",
        "--metric",
        "conversion:primary:binomial",
        "--metric",
        "latency:guardrail:mean:lower-is-better:margin=0.05",
        "--metric",
        "page_load_ms:guardrail:quantile=0.9:lower-is-better",
    )
    assert result.returncode == 0, result.stderr
    assert "Created experiment checkout" in result.stdout


def test_lifecycle_through_the_cli(sqlite_env):
    create_checkout(sqlite_env)
    for command in ("start", "pause", "resume", "stop"):
        result = neonblue(sqlite_env, "experiments", command, "checkout")
        assert result.returncode == 0, result.stderr
    result = neonblue(
        sqlite_env, "experiments", "conclude", "checkout", "--decision", "ship", "--winner", "green"
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(neonblue(sqlite_env, "experiments", "show", "checkout", "--json").stdout)
    assert shown["status"] == "concluded"
    assert (shown["decision"], shown["winner"], shown["reason"]) == ("ship", "green", "")
    assert shown["version"] >= 6  # created, started, paused, resumed, stopped, concluded
    assert [m["key"] for m in shown["metrics"]] == ["conversion", "latency", "page_load_ms"]
    p90 = shown["metrics"][2]
    assert (p90["kind"], p90["quantile"], p90["quantile_per_user"]) == ("quantile", 0.9, False)
    assert shown["metrics"][1]["margin"] == 0.05 and not shown["metrics"][1]["higher_is_better"]
    text = neonblue(sqlite_env, "experiments", "show", "checkout").stdout
    assert "p90" in text  # a quantile metric names its level
    started, stopped = (line.split(maxsplit=1)[1] for line in text.splitlines()
                        if line.strip().startswith(("started", "stopped")))  # fmt: skip
    assert len(started) == len(stopped) == len("2026-01-01 00:00:00 UTC")  # alike, to the second
    listed = json.loads(neonblue(sqlite_env, "experiments", "list", "--json").stdout)
    assert [e["key"] for e in listed] == ["checkout"]

    log = neonblue(sqlite_env, "events", "log", "--experiment", "checkout", "--json")
    names = [json.loads(line)["event"] for line in log.stdout.splitlines()]
    assert names == [
        "Experiment.Created",
        "Experiment.Started",
        "Experiment.Paused",
        "Experiment.Resumed",
        "Experiment.Stopped",
        "Experiment.Concluded",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("experiments", "start", "nope"), "No experiment with key 'nope'"),
        (("experiments", "resume", "checkout"), "Cannot resume experiment 'checkout'"),
        (("experiments", "conclude", "checkout", "--decision", "ship"), "Cannot conclude"),
        (("experiments", "create", "x", "--metric", "m:weird"), "unknown part 'weird'"),
        (("experiments", "create", "checkout"), "already exists"),
        (("events", "log", "--experiment", "nope"), "No experiment with key 'nope'"),
    ],
)
def test_domain_errors_are_one_line_messages(sqlite_env, args, message):
    create_checkout(sqlite_env)
    result = neonblue(sqlite_env, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 2  # one message (rich may wrap it)


@pytest.mark.parametrize(
    "args",
    [
        ("results", b"checkout\xff"),
        ("ask", b"How is checkout \xe9 doing?"),  # Latin-1, not UTF-8
        ("experiments", "create", b"k\xff\xfe", "--name", "x"),
        ("experiments", "show", "checkout", "--engine", b"\x80"),
    ],
)
def test_arguments_that_are_not_utf8_are_one_line_messages(sqlite_env, args):
    """A shell passes bytes; Python hands undecodable ones on as lone surrogates, which no
    store, hash or model takes (they failed deep inside with a UnicodeEncodeError)."""
    create_checkout(sqlite_env)
    result = neonblue(sqlite_env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not valid UTF-8" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 2
    listed = json.loads(neonblue(sqlite_env, "experiments", "list", "--json").stdout)
    assert [e["key"] for e in listed] == ["checkout"]  # nothing was recorded


def test_bad_store_url_is_a_configuration_error(tmp_path):
    result = neonblue({"NEONBLUE_EVENT_STORE": "mysql://x"}, "experiments", "list")
    assert result.returncode == 2
    assert "NEONBLUE_EVENT_STORE='mysql://x' is not understood" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_postgres_is_reported(tmp_path):
    env = {
        "NEONBLUE_EVENT_STORE": "postgresql://postgres:hunter2-secret@127.0.0.1:1/none",
        "NEONBLUE_POSTGRES_CONNECT_TIMEOUT": "1",
    }
    result = neonblue(env, "experiments", "list")
    assert result.returncode == 3
    assert "event store unavailable" in result.stderr
    assert "(postgresql:127.0.0.1:1/none)" in " ".join(result.stderr.split())  # which one
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_assign_explains_the_bucket(sqlite_env):
    from domain import bucketing

    create_checkout(sqlite_env)
    result = neonblue(sqlite_env, "assign", "checkout", "user-42")
    assert result.returncode == 0, result.stderr
    # ingest buckets the user's pseudonym (personal data protection is on by default)
    with bootstrap(
        EventStoreSettings(data_dir=Path(sqlite_env["NEONBLUE_DATA_DIR"]), event_store="")
    ) as s:
        subject = s.subject_of("user-42")
    assert subject != "user-42"
    n = bucketing.hash("checkout", subject, 2)
    expected = "control" if n < 0.5 else "green"
    assert f"-> {expected}" in result.stdout
    assert f"{n:.4f}" in result.stdout
    assert "Recorded for them" not in result.stdout

    # the client showed the other variant (an SDK hashes the raw id): assign says both
    other = "green" if expected == "control" else "control"
    assert neonblue(sqlite_env, "experiments", "start", "checkout").returncode == 0
    with bootstrap(
        EventStoreSettings(data_dir=Path(sqlite_env["NEONBLUE_DATA_DIR"]), event_store="")
    ) as s:
        s.app.record([RecordExposure("checkout", subject, "x1", datetime.now(UTC), other)])
    again = neonblue(sqlite_env, "assign", "checkout", "user-42")
    assert f"-> {expected}" in again.stdout
    assert f"Recorded for them: {other}, as the client said it showed" in " ".join(
        again.stdout.split()
    )


def test_cli_on_postgres(postgres: PostgresCluster):
    env = {"NEONBLUE_EVENT_STORE": postgres.url(postgres.create_database())}
    create_checkout(env)
    assert neonblue(env, "experiments", "start", "checkout").returncode == 0
    listed = json.loads(neonblue(env, "experiments", "list", "--json").stdout)
    assert listed[0]["status"] == "running"


def test_a_shown_definition_creates_a_copy(sqlite_env, tmp_path):
    """`experiments show --json` is a spec `experiments create --spec` takes (a re-run)."""
    create_checkout(sqlite_env)
    shown = neonblue(sqlite_env, "experiments", "show", "checkout", "--json")
    assert shown.returncode == 0, shown.stderr
    spec = tmp_path / "checkout.json"
    spec.write_text(shown.stdout)
    copied = neonblue(sqlite_env, "experiments", "create", "checkout-rerun", "--spec", str(spec))
    assert copied.returncode == 0, copied.stderr
    again = neonblue(sqlite_env, "experiments", "show", "checkout-rerun", "--json")
    original, copy = json.loads(shown.stdout), json.loads(again.stdout)
    for field in ("name", "hypothesis", "tags", "coverage", "variants", "metrics"):
        assert copy[field] == original[field], field
    assert copy["key"] == "checkout-rerun" and copy["status"] == "draft"
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({**original, "metrics": [{"key": "conversion"}]}))
    refused = neonblue(sqlite_env, "experiments", "create", "x", "--spec", str(damaged))
    assert refused.returncode == 1 and "an object with key, role and kind" in refused.stderr


def test_a_terminal_sees_work_in_progress_and_a_pipe_gets_only_the_answer(sqlite_env):
    """Commands that take seconds (here `results`, which catches the analytics model up
    first) show a spinner on a terminal's stderr; with --json or a pipe nothing but the
    answer is written."""
    import pty

    create_checkout(sqlite_env)
    assert neonblue(sqlite_env, "experiments", "start", "checkout").returncode == 0
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "infrastructure.cli", "results", "checkout"],
            env={**os.environ, **sqlite_env, "TERM": "xterm", "COLUMNS": "200"},
            stdout=subprocess.PIPE, stderr=follower, text=True, timeout=120,
        )  # fmt: skip
        os.close(follower)
        terminal = b""
        while chunk := _read_available(leader):
            terminal += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0 and "conversion" in done.stdout
    assert b"Analysing from the analytics model" in terminal
    piped = neonblue(sqlite_env, "results", "checkout", "--json")
    assert piped.returncode == 0 and piped.stderr == ""
    assert json.loads(piped.stdout)["experiment_key"] == "checkout"


def _read_available(fd: int) -> bytes:
    import select

    if not select.select([fd], [], [], 0.5)[0]:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the terminal's other side is closed and drained
        return b""
