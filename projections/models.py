"""All read models of one deployment, connected on first use (the composition root
registers them: `infrastructure.bootstrap`)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from infrastructure.application import NeonBlue
from infrastructure.settings import ClickHouseSettings, ConfigurationError
from projections.generations import Generation
from projections.log import LogReader
from projections.rebuild import Rebuildable
from projections.runner import DEFAULT_BATCH, ProjectionRunner, ProjectionStatus

ANALYTICS_RETRY_SECONDS = 60.0
"""After the analytics model could not be opened (embedded chDB held by another process),
summaries come from the relational model this long before it is tried again."""


class UnknownProjection(ConfigurationError):
    """A projection name that does not exist."""


class ReadModels:
    """The analytics (ClickHouse), relational (SQL) and knowledge (Chroma) read models."""

    def __init__(self, app: NeonBlue, clickhouse: ClickHouseSettings | None = None) -> None:
        self.app = app
        self.clickhouse_settings = clickhouse or ClickHouseSettings()
        self.reader = LogReader(app)
        self._models: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._factories: dict[str, Callable[[], Rebuildable]] = {"analytics": self._analytics}
        self._runners: dict[str, ProjectionRunner] = {}
        self._building = threading.RLock()  # tools run in threads; each model opens once
        self.clock: Callable[[], float] = time.monotonic
        self.analytics_retry_at = 0.0  # by `clock`; see ANALYTICS_RETRY_SECONDS

    @property
    def names(self) -> list[str]:
        return list(self._factories)

    def add(self, name: str, factory: Callable[[], Rebuildable]) -> None:
        """Registers another read model (built lazily by ``factory``)."""
        self._factories[name] = factory

    def on_close(self, close: Callable[[], None]) -> None:
        self._closers.append(close)

    def model(self, name: str) -> Rebuildable:
        if name not in self._factories:
            raise UnknownProjection(
                f"No projection named {name!r}; choose from {', '.join(self.names)}."
            )
        with self._building:
            if name not in self._models:
                self._models[name] = self._factories[name]()
            return self._models[name]

    def analytics(self) -> Any:
        """The :class:`AnalyticsModel` (chDB or a ClickHouse server)."""
        return self.model("analytics")

    def runner(self, name: str, batch_size: int = DEFAULT_BATCH) -> ProjectionRunner:
        """The live projection's runner (one per model and batch size, kept)."""
        key = name if batch_size == DEFAULT_BATCH else f"{name}:{batch_size}"
        with self._building:
            if key not in self._runners:
                self._runners[key] = ProjectionRunner(
                    self.reader, self.model(name).projection(), batch_size
                )
            return self._runners[key]

    def switched(self, name: str) -> None:
        """Forgets the runners of a model whose live copy was replaced (rebuild)."""
        for key in [k for k in self._runners if k.split(":", 1)[0] == name]:
            del self._runners[key]

    def generations(self, names: list[str] | None = None) -> list[Generation]:
        """Every model's generations: live, being built, leftovers (with sizes)."""
        return [g for name in names or self.names for g in self.model(name).generations()]

    def collect(self, names: list[str] | None = None, force: bool = False) -> list[Generation]:
        """Removes the leftovers of every model (``force``: copies being built too)."""
        return [g for name in names or self.names for g in self.model(name).collect(force)]

    def status(self, names: list[str] | None = None) -> list[ProjectionStatus]:
        return [self.runner(name).status() for name in names or self.names]

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()
        self._models.clear()
        self._runners.clear()

    def _analytics(self) -> Rebuildable:
        from projections.analytics.client import connect_clickhouse
        from projections.analytics.model import AnalyticsModel

        client = connect_clickhouse(self.clickhouse_settings)
        self._closers.append(client.close)
        return AnalyticsModel(self.app, client, self.clickhouse_settings.clickhouse_database)


def results_summary(models: ReadModels, experiment: Any) -> dict[str, Any] | None:
    """The primary metric's latest result from the analytics model, for the knowledge base."""
    if str(experiment.status) == "draft":
        return None
    from projections.analytics.client import ClickHouseUnavailable

    card = None
    if models.clock() >= models.analytics_retry_at:
        try:
            card = models.analytics().scorecard(experiment)
        except ClickHouseUnavailable:  # embedded chDB held by another process (`serve`)
            models.analytics_retry_at = models.clock() + ANALYTICS_RETRY_SECONDS
    source = "analytics"
    if card is None:  # the same scorecard from the relational model's sums (no CUPED there)
        from domain.analysis import build_scorecard

        models.runner("relational").catch_up()
        card = build_scorecard(experiment, models.model("relational").variant_sums(experiment))
        source = "relational"
    rows = card.primary()
    if not rows or card.total_users == 0:
        return None
    row = rows[0]
    lift = 0.0 if math.isnan(row.lift) else row.lift
    p_value = 1.0 if row.p_value is None or math.isnan(row.p_value) else row.p_value
    verdict = "significant" if row.significant else "not significant"
    return {
        "lift": lift,
        "p_value": p_value,
        "significant": bool(row.significant),
        "users": card.total_users,
        "source": source,
        "summary": f"{row.metric}: {row.variant} vs {card.control} lift {lift:+.1%}, "
        f"p={p_value:.3g}, {verdict}, {card.total_users} users",
    }
