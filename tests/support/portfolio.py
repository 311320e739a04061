"""The simulated portfolio as an event store, built once per test session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

from infrastructure.bootstrap import build_app
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO, simulate_traffic

USERS_PER_EXPERIMENT = 1500
START = datetime(2026, 9, 1, tzinfo=UTC)


def build_portfolio(data_dir: Path, users: int = USERS_PER_EXPERIMENT) -> None:
    """Creates, starts and fills the portfolio; the hero video is stopped after 15 days."""
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    try:
        for index, plan in enumerate(PORTFOLIO):
            app.create_experiment(
                plan.key,
                plan.name,
                hypothesis=plan.hypothesis,
                description=plan.description,
                tags=plan.tags,
                owner=plan.owner,
                variants=plan.variants,
                metrics=plan.metrics,
            )
            app.start_experiment(plan.key, at=START)
            commands = simulate_traffic(plan, app.experiment(plan.key), users, START, seed=index)
            while batch := list(islice(commands, 2000)):
                app.record(batch)
        app.stop_experiment("homepage-hero-video", at=START + timedelta(days=15))
    finally:
        app.close()
