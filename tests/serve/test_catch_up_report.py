"""serve says how its read models catch up with the log after it starts."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

from infrastructure.cli import serve as serve_cli
from projections.runner import ProjectionStatus


class Follower:
    """Positions that advance on every look, as the follower's thread moves them."""

    def __init__(self, steps: list[tuple[int, int]]) -> None:
        self.steps = steps

    def statuses(self) -> list[ProjectionStatus]:
        analytics, knowledge = self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]
        return [
            ProjectionStatus("analytics", analytics, 200_000, 200_000 - analytics, 1.0),
            ProjectionStatus("knowledge", knowledge, 200_000, 200_000 - knowledge, 1.0),
        ]


@pytest.fixture
def printed(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(serve_cli, "error_console", Console(file=out, width=200))
    return out


def test_progress_until_caught_up_then_how_long(printed):
    follower = Follower([(50_000, 0), (150_000, 100_000), (200_000, 200_000)])
    serve_cli.report_catch_up(follower, threading.Event(), every=0.01)
    lines = printed.getvalue().splitlines()
    assert (
        lines[0]
        == "Catching up with the log: analytics 50,000/200,000 (25%), knowledge 0/200,000 (0%)"
    )
    assert lines[1].startswith("Catching up with the log: analytics 150,000/200,000 (75%)")
    assert lines[2].startswith("Caught up with the log (200,000 events) after ") and len(lines) == 3


def test_silent_when_caught_up_at_once_or_stopped(printed):
    serve_cli.report_catch_up(Follower([(200_000, 200_000)]), threading.Event(), every=0.01)
    stopped = threading.Event()
    stopped.set()
    serve_cli.report_catch_up(Follower([(0, 0)]), stopped, every=0.01)
    assert printed.getvalue() == ""
