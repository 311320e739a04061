"""What users type (or stored text they did not type) is shown as text: square brackets are
not rich markup, terminal escape sequences are not executed; bad paths, settings and
numbers end in one line and exit code 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ESC = "\x1b"


def neonblue(
    env: dict[str, str], *args: str, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        env={**os.environ, **env, "COLUMNS": str(columns)}, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"NEONBLUE_DATA_DIR": str(tmp_path / "data"), "NEONBLUE_EVENT_STORE": ""}


def _clean(done: subprocess.CompletedProcess[str]) -> str:
    out = done.stdout + done.stderr
    assert "Traceback" not in out and ESC not in out, out
    return out


def test_brackets_and_escape_codes_in_stored_text_are_shown_as_text(env: dict[str, str]) -> None:
    created = neonblue(
        env, "experiments", "create", "beta-key", "--name", "Checkout [beta]",
        "--hypothesis", f"Users [segment a] convert more [/] {ESC}[2J \u202egnp.exe\x9b",
        "--owner", "[/]",
        "--tag", "[new]", "--variant", "control:0.5", "--variant", "treatment:0.5",
        "--metric", "conversion:primary:binomial",
    )  # fmt: skip
    assert created.returncode == 0, _clean(created)
    for columns in (200, 30):  # a table, and one block per row where it does not fit
        listed = neonblue(env, "experiments", "list", columns=columns)
        assert listed.returncode == 0, _clean(listed)
        for text in ("[beta]", "[/]", "[new]"):
            assert text in _clean(listed), (columns, text)
    shown = neonblue(env, "experiments", "show", "beta-key")
    assert shown.returncode == 0
    assert "Users [segment a] convert more [/] \\x1b[2J" in _clean(shown)
    # a right-to-left override (it would show "exe.png") and a C1 control, spelled out
    assert "\\u202egnp.exe\\x9b" in _clean(shown)
    assert "\u202e" not in shown.stdout and "\x9b" not in shown.stdout


def test_hostile_keys_are_refused_or_shown_escaped(env: dict[str, str]) -> None:
    made = neonblue(env, "experiments", "create", f"a{ESC}[31mb", "--name", "x")
    assert made.returncode == 1 and "is not valid: use 1-100 letters" in _clean(made)
    for args in (("experiments", "show", "[/]"), ("experiments", "show", f"{ESC}]0;TITLE")):
        missing = neonblue(env, *args)
        assert missing.returncode == 1, _clean(missing)
        assert "No experiment with key" in _clean(missing)
    assert "\\x1b]0;TITLE" in missing.stderr


NAN_MARGIN = (
    "--name", "K", "--variant", "a:0.5", "--variant", "b:0.5", "--metric", "c:primary:binomial",
    "--metric", "lat:guardrail:mean:margin=nan",
)  # fmt: skip


def test_bad_paths_settings_and_options_are_one_line(env: dict[str, str], tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("these are notes, not a database\n" * 100)
    array = tmp_path / "spec.json"
    array.write_text("[1, 2]")
    cases = [
        (env, ("experiments", "create", "k", "--spec", str(array)), "not an object"),
        (env, ("experiments", "create", "k", *NAN_MARGIN), "the margin must be a finite number"),
        (
            {**env, "NEONBLUE_EVENT_STORE": f"sqlite:///{not_a_database}"},
            ("experiments", "list"),
            "event store unavailable",
        ),
        (env, ("report", "x", "--html", str(tmp_path / "no" / "such" / "r.html")), "error"),
        ({**env, "NEONBLUE_DATA_DIR": str(a_file)}, ("experiments", "list"), "file error"),
        ({**env, "NEONBLUE_STATS_ENGINE": "bogus"}, ("results", "x"), "input error"),
        ({**env, "NEONBLUE_AGENT_ENGINE": "bogus"}, ("recommend", "x"), "input error"),
        (env, ("audit", "publish", "x", "--engine", "bogus"), "engine must be one of"),
        (env, ("audit", "replay", "x", "--alpha", "1.5"), "alpha must be between 0 and 1"),
        (env, ("privacy", "retention", "--older-than", "0d"), "retention periods are days"),
        (env, ("optimize", "revoke", "nope"), "no optimisation policy: nothing to revoke"),
        (env, ("optimize", "run", "--interval", "-5"), "Invalid value for '--interval'"),
        (env, ("simulate", "--experiments", "0"), "Invalid value for '--experiments'"),
        (env, ("simulate", "--effect", "nan"), "Invalid value for '--effect'"),
        (env, ("simulate", "--rate", "nan"), "Invalid value for '--rate'"),
        (env, ("events", "log", "--limit", "0"), "Invalid value for '--limit'"),
        (env, ("projections", "rebuild", "relational", "--batch-size", "0"), "'--batch-size'"),
        (env, ("assign", "k", " "), "a user id is needed"),
        (env, ("events", "log", "--limit", "200000"), "Invalid value for '--limit'"),
        (env, ("mcp", "serve", "postgresql", "--port", "99999"), "Invalid value for '--port'"),
        ({**env, "NEONBLUE_SERVE_PORT": "70000"}, ("serve",), "port: Input should be less"),
    ]
    for settings, args, expected in cases:
        done = neonblue(settings, *args)
        assert done.returncode in (1, 2, 3), (args, _clean(done))
        assert expected in _clean(done), (args, done.stderr)


def test_a_report_of_a_draft_experiment_is_written(env: dict[str, str], tmp_path: Path) -> None:
    """No one exposed yet: the charts have no lines to draw (it was a KeyError)."""
    created = neonblue(
        env, "experiments", "create", "draft-key", "--name", "Draft", "--variant", "control:0.5",
        "--variant", "treatment:0.5", "--metric", "conversion:primary:binomial",
    )  # fmt: skip
    assert created.returncode == 0, _clean(created)
    page = tmp_path / "report.html"
    written = neonblue(env, "report", "draft-key", "--html", str(page))
    assert written.returncode == 0, _clean(written)
    assert "Draft" in page.read_text() or "draft-key" in page.read_text()


def test_confirmations_echo_hostile_keys_seeds_reasons_and_paths_as_text(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Messages echoing a variant key, a seed, a reason (in the log) or an output path: no
    MarkupError, no restyling, no escape code reaching the terminal."""
    hostile = f"x[bold]y[/]{ESC}z"
    seen = "x[bold]y[/]\\x1bz"  # as printed: the brackets literal, the escape code shown
    variant = "x[bold]y[/]z"  # a variant's name is one line of printable text (no escape)
    folder = tmp_path / "out[bold]["  # a path holding "[bold]" and "[/]"
    folder.mkdir()
    refused = neonblue(env, "experiments", "create", "e-key", "--variant", "control=0.5",
                       "--variant", f"{hostile}=0.5", "--metric", "conversion:primary:binomial")  # fmt: skip
    assert refused.returncode == 1 and "must be one line" in _clean(refused)
    steps = [
        (("experiments", "create", "h-key", "--variant", "control=0.5",
          "--variant", f"{variant}=0.5", "--metric", "conversion:primary:binomial",
          "--seed", hostile), "Created experiment"),
        (("experiments", "start", "h-key"), "is running"),
        (("assign", "h-key", "u-1"), f"seed '{seen}'"),
        (("experiments", "traffic", "h-key", "--weight", "control=0.6",
          "--weight", f"{variant}=0.4"), f"{variant} 40%"),
        (("experiments", "pause", "h-key", "--reason", hostile), "is paused"),
        (("events", "log", "--experiment", "h-key"), '"reason": "x[bold]y[/]\\u001bz"'),
        (("audit", "replay", "h-key"), variant),
        (("audit", "export", "--out", str(folder / f"]{ESC}.jsonl")), "out[bold][/]\\x1b.jsonl"),
        (("privacy", "export", "u-1", "--out", str(folder / f"]{ESC}.json")), "[/]\\x1b.json"),
    ]  # fmt: skip
    for args, expected in steps:
        done = neonblue(env, *args)
        out = _clean(done)
        assert done.returncode == 0, (args, out)
        assert "MarkupError" not in out and expected in out, (args, out)


def test_a_second_line_cannot_draw_a_fake_row_or_field(env: dict[str, str]) -> None:
    """Names, owners, tags and --by are one line; a description's second line is indented
    under its first, not where `owner` or `coverage` would be printed."""
    fake_row = "Harmless\n│ h9  │ FAKE ROW │ running │"
    refused = neonblue(env, "experiments", "create", "h2", "--name", fake_row,
                       "--variant", "a=0.5", "--variant", "b=0.5", "--metric", "c:primary:binomial")  # fmt: skip
    assert refused.returncode == 1 and "must be one line" in _clean(refused)
    made = neonblue(
        env, "experiments", "create", "h2", "--description", "ok\n  owner        ceo@company",
        "--owner", "growth", "--variant", "a=0.5", "--variant", "b=0.5",
        "--metric", "c:primary:binomial",
    )  # fmt: skip
    assert made.returncode == 0, _clean(made)
    lines = _clean(neonblue(env, "experiments", "show", "h2")).splitlines()
    owners = [line for line in lines if line.startswith("  owner")]
    assert owners == ["  owner        growth"], lines  # the description's line is indented
    assert " " * 15 + "  owner        ceo@company" in lines
