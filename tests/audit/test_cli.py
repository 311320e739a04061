"""`neonblue audit ...` as a user runs it (real subprocesses on a SQLite store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.audit.scenario import populate, stream_positions
from tests.audit.tampering import RawLog
from tests.infrastructure.test_cli import neonblue

KEY_ENV = {"NEONBLUE_AUDIT_KEY": "a-long-enough-operator-key"}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    settings = EventStoreSettings(data_dir=tmp_path, event_store="")
    app = build_app(settings)
    populate(app, users=8)
    app.close()
    yield {"NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": "", **KEY_ENV}


def tamper(env: dict[str, str]) -> int:
    """Deletes a participation's second event; returns where verify should point."""
    settings = EventStoreSettings(data_dir=Path(env["NEONBLUE_DATA_DIR"]), event_store="")
    app = build_app(settings)
    positions = stream_positions(app, "checkout", "u3")
    raw = RawLog(settings, app)
    raw.delete(positions[1])
    raw.close()
    app.close()
    return positions[2]


def test_verify_checkpoint_and_tampering(env: dict[str, str], tmp_path: Path):
    ok = neonblue(env, "audit", "verify")
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stderr
    made = neonblue(env, "audit", "checkpoint")
    assert made.returncode == 0, made.stderr
    file = tmp_path / "audit-checkpoints.jsonl"
    assert json.loads(file.read_text())["signature"]
    where = tamper(env)
    bad = neonblue(env, "audit", "verify", "--checkpoints", str(file))
    assert bad.returncode == 1
    assert f"first problem at position {where}: deleted" in " ".join(bad.stdout.split())
    assert "checkpoint" in bad.stdout
    refused = neonblue(env, "audit", "checkpoint")
    assert refused.returncode == 1 and "refusing" in refused.stderr
    wrong_key = neonblue(
        {**env, "NEONBLUE_AUDIT_KEY": "another-operator-key"}, "audit", "verify",
        "--checkpoints", str(file),
    )  # fmt: skip
    assert wrong_key.returncode == 1 and "bad signature" in wrong_key.stderr
    no_key = neonblue({**env, "NEONBLUE_AUDIT_KEY": ""}, "audit", "checkpoint")
    assert no_key.returncode == 2 and "NEONBLUE_AUDIT_KEY" in no_key.stderr


def test_replay_history_and_export(env: dict[str, str], tmp_path: Path):
    replayed = neonblue(env, "audit", "replay", "checkout", "--json")
    assert replayed.returncode == 0, replayed.stderr
    data = json.loads(replayed.stdout)
    assert data["status"] == "paused" and sum(data["exposed"].values()) == 8
    assert data["scorecard"]["rows"]
    early = neonblue(env, "audit", "replay", "checkout", "--as-of", "2000-01-01")
    assert early.returncode == 1 and "not yet recorded" in early.stderr
    story = neonblue(env, "audit", "history", "checkout", "--json")
    events = [json.loads(line)["event"] for line in story.stdout.splitlines()]
    assert events == ["Created", "Started", "Paused"]
    told = neonblue(env, "audit", "history", "checkout")
    lines = " ".join(told.stdout.split())
    assert told.returncode == 0 and "Traceback" not in told.stderr
    assert "reason=" in lines and "…" not in told.stdout  # every detail, wrapped, not cut
    text = neonblue(env, "audit", "replay", "checkout")
    assert "weights control 0.5, treatment 0.5" in " ".join(text.stdout.split()), text.stdout
    out = tmp_path / "log.jsonl"
    exported = neonblue(env, "audit", "export", "--since", "3", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    first = json.loads(out.read_text().splitlines()[1])  # after the header
    assert first["position"] == 3
    whole = tmp_path / "all.jsonl"
    assert neonblue(env, "audit", "export", "--out", str(whole)).returncode == 0
    assert neonblue(env, "audit", "verify", "--export", str(whole)).returncode == 0
    page = tmp_path / "report.html"
    reported = neonblue(env, "report", "checkout", "--html", str(page))
    assert reported.returncode == 0, reported.stderr
    assert page.read_text().count('<figure class="chart"') >= 5


def test_publish_and_recompute(env: dict[str, str]):
    published = neonblue(env, "audit", "publish", "checkout", "--engine", "sequential")
    assert published.returncode == 0, published.stderr
    record_id = published.stdout.split()[2]
    listed = neonblue(env, "audit", "analyses", "checkout")
    assert record_id[:8] in listed.stdout
    again = neonblue(env, "audit", "recompute", record_id)
    assert again.returncode == 0 and "MATCHES" in again.stdout, again.stdout + again.stderr
    missing = neonblue(env, "audit", "recompute", "00000000-0000-0000-0000-000000000000")
    assert missing.returncode == 1 and "No recorded analysis" in missing.stderr


def test_replay_by_event_time(env: dict[str, str]):
    """--occurred-by cuts by when things happened (users exposed at T0 + i minutes; the pause
    happened when it was recorded), and the answer names the cut."""
    cut = neonblue(
        env, "audit", "replay", "checkout", "--occurred-by", "2026-05-01T00:03:30Z", "--json"
    )
    assert cut.returncode == 0, cut.stderr
    data = json.loads(cut.stdout)
    assert data["status"] == "running" and sum(data["exposed"].values()) == 4
    assert data["occurred_by"].startswith("2026-05-01T00:03:30") and data["as_of"] is None
    assert "event time" in data["cut"]
    engine = {**env, "NEONBLUE_STATS_ENGINE": "bayesian"}  # the platform's setting, named
    text = neonblue(engine, "audit", "replay", "checkout", "--occurred-by", "2026-05-01T00:00:30Z")
    out = " ".join(text.stdout.split())
    assert "event time" in out and "bayesian engine" in out, out
    assert "n/a [n/a, n/a]" in out and "each variant needs at least 2 units" in out, out
    assert "nan" not in out, out


def test_history_names_who_changed_the_experiment(env: dict[str, str]):
    """A change made with the CLI records who made it (--by, else the user name); events
    recorded before `by` existed read as made by nobody named."""
    import getpass

    from eventsourcing.persistence import StoredEvent

    from infrastructure.audit.chain import split_state
    from infrastructure.bootstrap import build_app
    from infrastructure.settings import EventStoreSettings

    assert neonblue(env, "experiments", "resume", "checkout", "--by", "alice").returncode == 0
    assert neonblue(env, "experiments", "stop", "checkout", "--reason", "done").returncode == 0
    story = neonblue(env, "audit", "history", "checkout", "--json")
    actors = [(e["event"], e["actor"]) for e in map(json.loads, story.stdout.splitlines())]
    assert actors[-2:] == [("Resumed", "alice"), ("Stopped", getpass.getuser())]
    assert actors[0] == ("Created", "")  # the owner is not who created it
    made = neonblue(env, "experiments", "create", "k2", "--by", "bob", "--owner", "growth",
                    "--variant", "a=0.5", "--variant", "b=0.5", "--metric", "c:primary:binomial")  # fmt: skip
    assert made.returncode == 0, made.stderr
    two_lines = neonblue(env, "experiments", "start", "k2", "--by", "bob\nalice")
    assert two_lines.returncode == 2 and "one line" in two_lines.stderr  # one name, one line
    assert neonblue(env, "experiments", "start", "k2", "--by", "  ").returncode == 0
    assert (
        neonblue(env, "experiments", "stop", "k2", "--reason", "Müller's Änderung").returncode == 0
    )
    table = " ".join(neonblue(env, "audit", "history", "k2").stdout.split())
    assert "bob" in table and "Müller's Änderung" in table, table  # as typed, not \u00fc
    from tests.infrastructure.test_cli_hostile_input import neonblue as sized

    narrow = sized(env, "audit", "history", "k2", columns=80).stdout
    assert 'reason="Müller\'s Änderung"' in narrow and "…" not in narrow, narrow  # not cut
    assert 'by="' not in narrow  # the actor has its column
    k2 = [
        json.loads(line)
        for line in neonblue(env, "audit", "history", "k2", "--json").stdout.splitlines()
    ]
    assert [(e["event"], e["actor"]) for e in k2] == [
        ("Created", "bob"),
        ("Started", getpass.getuser()),
        ("Stopped", getpass.getuser()),
    ]  # a blank --by is the user name too

    app = build_app(EventStoreSettings(data_dir=Path(env["NEONBLUE_DATA_DIR"]), event_store=""))
    notifications = app.recorder.select_notifications(1, 1000)
    (stored,) = [n for n in notifications if n.topic.endswith("Experiment.Paused")]
    fields = json.loads(split_state(stored.state)[1])
    del fields["by"]  # as an event recorded before it was kept
    old = StoredEvent(stored.originator_id, stored.originator_version, stored.topic,
                      json.dumps(fields).encode())  # fmt: skip
    event = app.mapper.to_domain_event(old)
    assert event.by == "" and event.reason == fields["reason"]
    app.close()
