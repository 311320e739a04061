"""`neonblue serve` for the benchmarks (the tests' own helper), and percentiles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.serve import env_for, running_serve


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def serving(data_dir: Path, timeout: float = 600, **env: str) -> Iterator[str]:
    """Runs serve on ``data_dir`` (with ``env`` added to the tests' environment) until every
    projection reached the head; yields its URL."""
    with running_serve(env_for(data_dir, **env), data_dir) as serve:
        serve.wait_caught_up(timeout)
        yield serve.url
        serve.stop()
