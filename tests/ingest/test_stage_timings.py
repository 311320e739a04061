"""The writer reports where ingest's time went, per stage (read by `bench/ingest.py`)."""

from __future__ import annotations

import time

from infrastructure.application import NeonBlue
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.simulate import TrafficPlan, publish, wire_events
from infrastructure.ingest.writer import STAGES
from tests.ingest.conftest import START, setup_portfolio

PLAN = TrafficPlan(experiments=2, users=40)


def test_every_stage_is_timed_within_the_ingest(app: NeonBlue) -> None:
    setup_portfolio(app, PLAN)
    bus = InProcessBus()
    published = publish(bus.producer(), wire_events(PLAN, START))
    started = time.perf_counter()
    stats = ingest_in_process(app, bus)
    elapsed = time.perf_counter() - started

    assert stats.consumed == published and stats.recorded > 0
    assert list(stats.seconds) == list(STAGES)
    assert all(seconds > 0 for seconds in stats.seconds.values()), stats.seconds
    assert sum(stats.seconds.values()) <= elapsed
