"""`audit export` and `audit verify --export`: an export from any start verifies offline, with
the checkpoints after its start; what was cut from it, altered in it or forged in its header
is found; a file that holds no events verifies nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from freezegun import freeze_time

from infrastructure.application import NeonBlue
from infrastructure.audit.chain import HEADER_LENGTH
from infrastructure.audit.checkpoints import new_checkpoint
from infrastructure.audit.export import export_rows, read_export, write_jsonl
from infrastructure.audit.verify import VerifyReport, verify_log, verify_notifications
from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from tests.audit.scenario import T0, populate, stream_positions
from tests.infrastructure.test_cli import neonblue

KEY = b"a-long-enough-operator-key"


def export_lines(app: NeonBlue, **since: object) -> list[str]:
    out = io.StringIO()
    write_jsonl(export_rows(app.recorder, **since), out)  # type: ignore[arg-type]
    return out.getvalue().splitlines()


def verify(lines: list[str], checkpoints: list = ()) -> VerifyReport:  # type: ignore[assignment]
    exported = read_export(lines)
    return verify_notifications(exported.notifications, checkpoints, exported.start)


def checkpoint_of(app: NeonBlue):
    report = verify_log(app.recorder)
    return new_checkpoint(
        report.last_position, report.events, report.running_hash, datetime.now(UTC), KEY
    )


def two_days(app: NeonBlue) -> None:
    """Two experiments' traffic, a day apart; streams of the first go on on the second day."""
    with freeze_time(T0):
        populate(app, "checkout")
    with freeze_time(T0 + timedelta(days=1)):
        populate(app, "pricing")
        app.resume_experiment("checkout")


def test_a_whole_export_is_the_raw_log_and_verifies(app: NeonBlue) -> None:
    two_days(app)
    lines = export_lines(app)
    header, first = json.loads(lines[0]), json.loads(lines[1])
    assert header["from_position"] == 1 and header["events_before"] == 0
    assert first["position"] == 1 and first["state"].startswith('{"_chain":"')
    assert len(lines) == app.head() + 1
    report = verify(lines, [checkpoint_of(app)])
    assert report.ok and report.checked == app.head() and report.checkpoints_checked == 1
    headerless = verify(lines[1:])  # as exports were written before the header
    assert headerless.ok and headerless.running_hash == report.running_hash


def test_an_export_from_a_position_or_a_time_verifies_with_later_checkpoints(
    app: NeonBlue,
) -> None:
    with freeze_time(T0):
        populate(app, "checkout")
    early = checkpoint_of(app)
    with freeze_time(T0 + timedelta(days=1)):
        populate(app, "pricing")
        app.resume_experiment("checkout")  # a stream that began before the start
    late = checkpoint_of(app)
    second_day = min(e.position for e in app.log() if e.event.timestamp >= T0 + timedelta(days=1))
    for since in ({"since_position": second_day}, {"since_time": T0 + timedelta(hours=12)}):
        lines = export_lines(app, **since)
        assert json.loads(lines[1])["position"] == second_day
        report = verify(lines, [early, late])
        assert report.ok, report.findings
        assert report.checked == app.head() - second_day + 1
        assert (report.checkpoints_checked, report.checkpoints_before_start) == (1, 1)
        assert report.running_hash == verify_log(app.recorder).running_hash


def test_what_is_cut_from_altered_in_or_forged_in_a_partial_export_is_found(
    app: NeonBlue,
) -> None:
    two_days(app)
    late = checkpoint_of(app)
    start = stream_positions(app, "pricing", "u0")[0]
    lines = export_lines(app, since_position=start)
    index = {json.loads(line).get("position"): i for i, line in enumerate(lines)}

    # the first event of a stream cut from the export: its later events look like a stream
    # that began before the start, so only the checkpoint after it can tell
    cut = [line for i, line in enumerate(lines) if i != index[start]]
    assert verify(cut).ok
    found = verify(cut, [late])
    assert [f.kind for f in found.findings] == ["checkpoint"]

    altered = list(lines)
    row = json.loads(lines[index[start + 1]])
    body = row["state"][HEADER_LENGTH:]
    digit = next(i for i, c in enumerate(body) if c.isdigit())
    row["state"] = row["state"][:HEADER_LENGTH] + body[:digit] + "x" + body[digit + 1 :]
    altered[index[start + 1]] = json.dumps(row)
    assert [f.position for f in verify(altered).findings] == [start + 1]

    header = json.loads(lines[0])
    forged = [json.dumps({**header, "running_hash_before": "00" * 32}), *lines[1:]]
    assert verify(forged).ok  # nothing in the file contradicts it...
    assert [f.kind for f in verify(forged, [late]).findings] == [
        "checkpoint"
    ]  # ...a checkpoint does


def test_verify_export_from_the_command_line(tmp_path: Path) -> None:
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    two_days(app)
    head = app.head()
    app.close()
    env = {
        "NEONBLUE_DATA_DIR": str(tmp_path),
        "NEONBLUE_EVENT_STORE": "",
        "NEONBLUE_AUDIT_KEY": KEY.decode(),
    }
    assert neonblue(env, "audit", "checkpoint").returncode == 0
    partial = tmp_path / "since.jsonl"
    exported = neonblue(
        env, "audit", "export", "--since", "2026-05-01T12:00Z", "--out", str(partial)
    )
    assert exported.returncode == 0, exported.stderr
    checked = neonblue(
        env, "audit", "verify", "--export", str(partial),
        "--checkpoints", str(tmp_path / "audit-checkpoints.jsonl"),
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"-{head}, 1 checkpoint(s)" in checked.stdout
    assert "A partial export" in checked.stdout
    assert "No checkpoint checked" not in checked.stdout  # the checkpoint covers it all
    assert "covered by their streams' chains only" not in checked.stdout
    unchecked = neonblue(env, "audit", "verify", "--export", str(partial))
    assert unchecked.returncode == 0, unchecked.stdout + unchecked.stderr
    assert "No checkpoint checked" in " ".join(unchecked.stdout.split())  # what OK leaves out

    nothing = tmp_path / "nothing.jsonl"
    assert (
        neonblue(env, "audit", "export", "--since", str(head + 1), "--out", str(nothing)).returncode
        == 0
    )
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for path in (nothing, empty):
        verified = neonblue(env, "audit", "verify", "--export", str(path))
        assert verified.returncode == 1 and "holds no events" in verified.stdout

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"position": 1}\n')
    refused = neonblue(env, "audit", "verify", "--export", str(garbage))
    assert refused.returncode == 2 and "line 1 is not an exported event" in refused.stderr
    assert "Traceback" not in refused.stderr

    later = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    later.resume_experiment("pricing")
    later.close()
    newer = neonblue(
        env, "audit", "verify", "--checkpoints", str(tmp_path / "audit-checkpoints.jsonl")
    )
    assert newer.returncode == 0, newer.stdout + newer.stderr
    assert f"after position {head} (the newest checkpoint)" in " ".join(newer.stdout.split())
    implicit = neonblue(env, "audit", "verify")  # the store's own checkpoint file, by default
    assert implicit.returncode == 0 and "1 checkpoint(s)" in implicit.stdout, implicit.stdout
    keyless = neonblue(
        {k: v for k, v in env.items() if k != "NEONBLUE_AUDIT_KEY"}, "audit", "verify"
    )
    assert keyless.returncode == 0 and "are not checked" in " ".join(keyless.stdout.split())


def test_an_export_with_a_line_removed_or_its_recording_time_edited(tmp_path: Path) -> None:
    """What the chains cannot see is still said: a removed stream-last event leaves a
    position with no event (reported after the OK), and an edited recorded_at column (no
    hash covers it) does not match the time in the event: TAMPERED."""
    app = build_app(EventStoreSettings(data_dir=tmp_path, event_store=""))
    two_days(app)
    app.close()
    env = {"NEONBLUE_DATA_DIR": str(tmp_path), "NEONBLUE_EVENT_STORE": ""}
    whole = tmp_path / "all.jsonl"
    assert neonblue(env, "audit", "export", "--out", str(whole)).returncode == 0
    lines = whole.read_text().splitlines()
    rows = [json.loads(line) for line in lines[1:]]
    last_of_stream = {row["originator_id"]: i for i, row in enumerate(rows)}
    # a stream's last event, in the middle of the log: no chain notices it gone
    middle = next(i for i in sorted(last_of_stream.values()) if 0 < i < len(rows) - 1)
    gone = tmp_path / "gone.jsonl"
    gone.write_text("\n".join(lines[: middle + 1] + lines[middle + 2 :]) + "\n")
    checked = neonblue(env, "audit", "verify", "--export", str(gone))
    said = " ".join(checked.stdout.split())
    assert checked.returncode == 0 and "OK" in said, said
    assert (
        f"1 position(s) in this range hold no event (the first: {rows[middle]['position']})" in said
    )

    edited = [json.loads(line) for line in lines]
    edited[3]["recorded_at"] = "2020-01-01T00:00:00+00:00"
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(json.dumps(row) for row in edited) + "\n")
    caught = neonblue(env, "audit", "verify", "--export", str(forged))
    assert caught.returncode == 1 and "TAMPERED" in caught.stdout, caught.stdout
    assert "recorded_at '2020-01-01T00:00:00+00:00' is not the time" in " ".join(
        caught.stdout.split()
    )
