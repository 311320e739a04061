"""The dashboard's answers from the read models, and the pass that computes them ahead.

An experiment's scorecards for every engine, CUPED on and off, come from one read of its
sufficient statistics (the analytics model's per-variant sums); its lift lines for every
engine from one read of its day-by-day totals. Answers are plain JSON values (what the
snapshot file keeps), so a page renders the same from memory, from the file or from a
fresh computation.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from domain.experiments.aggregate import Experiment
from infrastructure.read_side import ENGINES, jsonable
from infrastructure.serve.dashboard.charts import Drawn, Yielding, lift_charts, traffic_charts
from infrastructure.serve.dashboard.drawer import REDRAW
from infrastructure.serve.dashboard.series import cumulative_lift, daily_totals, primary_metric
from infrastructure.serve.dashboard.snapshots import Snapshots, What
from projections.analytics.client import ClickHouseUnavailable

log = logging.getLogger("neonblue.dashboard")
COMBINATIONS = tuple((engine, cuped) for engine in ENGINES for cuped in (True, False))


class Answers:
    def __init__(self, services: Any, snapshots: Snapshots) -> None:
        self.services = services
        self.snapshots = snapshots
        self.drawn = Drawn()
        self.drawn_at: dict[str, float] = {}  # experiment key: when the drawer last drew it

    # -- one answer (what a request computes when no pass did yet) -------------------------

    def cards(
        self, experiment: Experiment, combinations: tuple[tuple[str, bool], ...]
    ) -> dict[tuple[str, bool], dict[str, Any]]:
        """Scorecards (as JSON values) for each (engine, CUPED) from one read of the sums."""
        from domain.analysis import build_scorecard
        from domain.statistics import AnalysisOptions
        from projections.analytics.queries import variant_sums

        analytics = self.services.read_models().analytics()
        sums = variant_sums(analytics.client, analytics.live_database(), experiment)
        now = datetime.now(UTC)  # running experiments' impact is projected up to now
        return {
            (engine, cuped): jsonable(asdict(build_scorecard(
                experiment, sums, AnalysisOptions(engine=engine), cuped, as_of=now  # type: ignore[arg-type]
            )))
            for engine, cuped in combinations
        }  # fmt: skip

    def card(self, experiment: Experiment, engine: str, cuped: bool) -> dict[str, Any]:
        return self.cards(experiment, ((engine, cuped),))[(engine, cuped)]

    def lift(
        self, experiment: Experiment, engine: str, until: date | None = None
    ) -> dict[str, str]:
        totals = daily_totals(self.services.read_models(), experiment, until)
        lines = cumulative_lift(totals, experiment, engine)
        return lift_charts(self.drawn, experiment, totals, lines, engine)

    def traffic(self, experiment: Experiment, until: date | None = None) -> dict[str, str]:
        return traffic_charts(
            self.drawn, daily_totals(self.services.read_models(), experiment, until)
        )

    def segments(self, experiment: Experiment) -> list[dict[str, Any]]:
        from mcp_servers.clickhouse import queries
        from mcp_servers.clickhouse.segments import corrected, segment_rows

        analytics = self.services.read_models().analytics()
        primary = [m for m in experiment.metrics if m.key == primary_metric(experiment)]
        if not primary:
            return []
        sums = queries.segment_sums(
            analytics.client, analytics.live_database(), experiment, "", primary[0].key, 10.0
        )
        rows = corrected(segment_rows(experiment, primary[0], sums))
        return jsonable([r.model_dump() for r in rows])

    # -- the pass ------------------------------------------------------------------------------

    def warm(
        self, experiments: list[Experiment], position: int, stopped: Callable[[], bool]
    ) -> int:
        """Every answer of ``experiments`` at ``position``, in two rounds: first every
        scorecard (what the experiments page shows; one read each), then the charts and
        segments of those whose page was ever opened, in the order given (the others are
        the drawer's: `draw_unopened`). Answers already there are skipped; returns how
        many experiments' scorecards were computed."""
        compared = [e for e in experiments if len(e.variants) >= 2]
        done = self._round(compared, position, stopped, self._warm_cards)
        opened = [e for e in compared if self.opened(e.key)]
        self._round(opened, position, stopped, self._warm_charts)
        return done

    def draw_unopened(
        self,
        experiments: list[Experiment],
        position: int,
        pause: Callable[[], None],
        rested: Callable[[float], None],
        stopped: Callable[[], bool],
    ) -> float | None:
        """The charts and segments of the pages never opened, at ``position``: those never
        drawn first, then those drawn more than `REDRAW` seconds ago whose data moved; one
        experiment at a time, ``pause`` before each chart, ``rested`` after each experiment
        with the CPU seconds it took.
        Returns the seconds until the next page falls due, or None."""
        compared = [e for e in experiments if len(e.variants) >= 2 and not self.opened(e.key)]
        compared.sort(key=lambda e: self.charted(e.key))  # never drawn first
        yielding = Yielding(self.drawn, pause)
        due = math.inf
        for experiment in compared:
            if stopped():
                break
            if self.opened(experiment.key):  # opened meanwhile: the warmer's now
                continue
            if self._fresh(self._chart_whats(experiment.key), position):
                continue
            wait = self.drawn_at.get(experiment.key, -math.inf) + REDRAW - time.monotonic()
            if wait > 0:
                due = min(due, wait)
                continue
            cpu = time.thread_time()  # what this thread spent, not its waits for requests
            try:
                self._draw_charts(experiment, position, yielding, pause)
            except Exception:  # e.g. the read model switched mid-read: the next round retries
                log.exception("drawing %s failed", experiment.key)
            self.drawn_at[experiment.key] = time.monotonic()
            rested(time.thread_time() - cpu)
        return None if due == math.inf else due

    def opened(self, key: str) -> bool:
        """Whether the experiment's page was opened (in this run, or in one that left its
        answers in the snapshot file)."""
        return self.snapshots.position(("opened", key)) is not None

    def open(self, key: str) -> bool:
        """Marks the page opened; whether it was the first time."""
        if self.opened(key):
            return False
        self.snapshots.put(("opened", key), 0, True)
        return True

    def charted(self, key: str) -> bool:
        """Whether the experiment's charts were drawn (by a request, a pass or the drawer)."""
        return self.snapshots.position(("traffic", key)) is not None

    def _round(
        self,
        experiments: list[Experiment],
        position: int,
        stopped: Callable[[], bool],
        step: Callable[[Experiment, int], int],
    ) -> int:
        done = 0
        for experiment in experiments:
            if stopped():
                break
            try:
                done += step(experiment, position)
            except ClickHouseUnavailable as error:  # held by another process: one line
                log.warning("warming %s skipped: %s", experiment.key, error)
            except Exception:  # e.g. the read model switched mid-read: the next pass retries
                log.exception("warming %s failed", experiment.key)
        return done

    def missing_cards(self, experiments: list[Experiment], position: int) -> int:
        """The scorecards of ``experiments`` that have none yet, at ``position`` (older
        ones are shown as they are until the next pass)."""
        missing = [
            e for e in experiments
            if any(self.snapshots.position(("card", e.key, en, c)) is None for en, c in COMBINATIONS)
        ]  # fmt: skip
        return self._round(missing, position, lambda: False, self._warm_cards)

    def _warm_cards(self, experiment: Experiment, position: int) -> int:
        whats = {("card", experiment.key, e, c): (e, c) for e, c in COMBINATIONS}
        if self._fresh(whats, position):
            return 0
        for (engine, cuped), card in self.cards(experiment, COMBINATIONS).items():
            self.snapshots.put(("card", experiment.key, engine, cuped), position, card)
        return 1

    def _warm_charts(self, experiment: Experiment, position: int) -> int:
        if not self._fresh(self._chart_whats(experiment.key), position):
            self._draw_charts(experiment, position, self.drawn, lambda: None)
        return 0

    @staticmethod
    def _chart_whats(key: str) -> list[What]:
        return [("traffic", key), ("segments", key)] + [("lift", key, e) for e in ENGINES]

    def _draw_charts(
        self,
        experiment: Experiment,
        position: int,
        drawn: Drawn | Yielding,
        pause: Callable[[], None],
    ) -> None:
        key = experiment.key
        totals = daily_totals(self.services.read_models(), experiment)
        self.snapshots.put(("traffic", key), position, traffic_charts(drawn, totals))
        for engine in ENGINES:
            lines = cumulative_lift(totals, experiment, engine)
            charts = lift_charts(drawn, experiment, totals, lines, engine)
            self.snapshots.put(("lift", key, engine), position, charts)
        pause()
        self.snapshots.put(("segments", key), position, self.segments(experiment))

    def _fresh(self, whats: Iterable[What], position: int) -> bool:
        found = [self.snapshots.position(w) for w in whats]
        return all(at is not None and at >= position for at in found)
