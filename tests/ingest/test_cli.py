"""The issue's reproduction with the product's own commands: `produce`, `ingest`,
`dead-letters list` as subprocesses on the real broker and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ingest.conftest import IngestEnv
from tests.ingest.support import topic_for
from tests.support.postgres import free_port

ROOT = Path(__file__).resolve().parents[2]


def neonblue(environ: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", *args],
        cwd=ROOT,
        env={**os.environ, **environ, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_poison_from_a_file_is_dead_lettered_and_ingest_exits_cleanly(
    env: IngestEnv, tmp_path: Path
) -> None:
    topic = topic_for(env.kafka, "user_events")
    source = tmp_path / "big.jsonl"
    source.write_text("z" * 800_000 + "\n")
    assert neonblue(env.environ(), "produce", topic, str(source)).returncode == 0

    ingest = neonblue(env.environ(), "ingest", "--until-idle", "1")
    alive = tmp_path / "ingest.alive"  # what a deployment's liveness probe checks
    again = neonblue(env.environ(), "ingest", "--until-idle", "1", "--health-file", str(alive))
    listed = neonblue(env.environ(), "dead-letters", "list", "--json")

    assert ingest.returncode == 0, ingest.stderr[-2000:]
    assert again.returncode == 0, again.stderr[-2000:]  # a restart: nothing left
    assert alive.exists()
    assert listed.returncode == 0, listed.stderr[-2000:]
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == 1  # once, though two processes ran
    (letter,) = letters
    assert letter["kind"] == "too_large" and "800,000 bytes" in letter["reason"]
    assert letter["original_length"] == 800_000 and not letter["truncated"]  # the table's copy
    assert letter["source_topic"] == topic


def test_produce_failures_are_one_line(env: IngestEnv, tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    huge = json.dumps({"event_id": "x" * 1_048_576, "user_id": "u"})
    source.write_text('{"event_id": "a", "user_id": "u"}\n' + huge + "\n")
    topic = topic_for(env.kafka, "user_events")

    too_large = neonblue(env.environ(), "produce", topic, str(source))
    closed = f"127.0.0.1:{free_port()}"
    down = neonblue(
        {**env.environ(), "NEONBLUE_KAFKA_BOOTSTRAP_SERVERS": closed},
        "produce",
        topic,
        str(source),
    )

    assert too_large.returncode == 4 and down.returncode == 4
    assert len(too_large.stderr.strip().splitlines()) == 1, too_large.stderr[-2000:]
    assert "line 2" in too_large.stderr and "MSG_SIZE_TOO_LARGE" in too_large.stderr
    assert "1 message(s) before it were published" in too_large.stderr
    assert len(down.stderr.strip().splitlines()) == 1, down.stderr[-2000:]
    assert "not reachable" in down.stderr and "Traceback" not in down.stderr
    assert f"{closed}: Connection refused" in down.stderr  # said at once, not after 10 s
