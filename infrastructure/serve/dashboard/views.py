"""What each dashboard page shows, as plain values for its template.

Numbers come from snapshots (`snapshots`): the analytics model's scorecards, day-by-day
charts and segments computed ahead by serve's warmer whenever the log moved, shown with
the position they reflect. Definitions (status, owner, tags), history and recommendations
come from the event store at every request (cheap reads, cached per log head); the search
from the knowledge model; "replay as of" from the log (cached per time and log head).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.experiments.aggregate import Experiment
from infrastructure.charts import prepare
from infrastructure.read_side import ENGINES, LocalReadSide
from infrastructure.serve.dashboard.answers import Answers
from infrastructure.serve.dashboard.catalog import Catalog
from infrastructure.serve.dashboard.drawer import Busy
from infrastructure.serve.dashboard.series import primary_metric
from infrastructure.serve.dashboard.snapshots import Snapshots

HISTORY_ROWS = 200
REMEMBERED = 64  # exact answers kept (replays, per-head lists)
log = logging.getLogger("neonblue.dashboard")


class Remembered:
    """Answers for an exact key (one including the log head or position), newest ``size``."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self.values: OrderedDict[tuple[Hashable, ...], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Hashable, ...], compute: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.values:
                self.values.move_to_end(key)
                return self.values[key]
        value = compute()
        with self.lock:
            self.values[key] = value
            while len(self.values) > self.size:
                self.values.popitem(last=False)
        return value


class Views:
    def __init__(
        self,
        read_side: LocalReadSide,
        position: Callable[[], int] | None = None,
        snapshot_file: Path | None = None,
    ) -> None:
        self.read_side = read_side
        self.services = read_side.services
        self._position = position
        self.snapshots = Snapshots(snapshot_file, store=self.services.event_store.identity)
        self.answers = Answers(self.services, self.snapshots)
        self.remembered = Remembered()
        self.opened: OrderedDict[str, float] = OrderedDict()  # experiments opened, newest last
        self.catalog = Catalog(self.services.app)
        self.first_opened: Callable[[], None] = lambda: None  # serve: a pass for the rest
        self.busy = Busy()  # requests being served (the background drawer waits for none)
        self.charts_prepared = False

    # -- positions ---------------------------------------------------------------------------

    def position(self) -> int:
        """The analytics model's position: what the numbers on the pages reflect (under serve
        the follower's published one: no query)."""
        if self._position is not None:
            return self._position()
        return self.services.read_models().runner("analytics").projection.position()

    def head(self) -> int:
        return self.services.app.head()

    # -- ahead of the requests -------------------------------------------------------------

    def warm(self, stopped: Callable[[], bool] = lambda: False) -> int:
        """Computes every experiment's scorecards at the current position, and the charts
        and segments of those whose page was opened (the most recent first); returns how
        many experiments' scorecards it computed."""
        position = self.position()
        self.recommendations()  # the first scan of the log is the long one
        experiments = self.definitions()
        recent = {key: i for i, key in enumerate(reversed(self.opened))}
        experiments.sort(key=lambda e: recent.get(e.key, len(recent)))
        return self.answers.warm(experiments, position, stopped)

    def draw_unopened(
        self,
        pause: Callable[[], None],
        rested: Callable[[float], None],
        stopped: Callable[[], bool],
    ) -> float | None:
        """The charts of the pages nobody opened (serve's drawer, see `drawer`)."""
        position = self.position()
        due = self.answers.draw_unopened(self.definitions(), position, pause, rested, stopped)
        self.snapshots.save()
        return due

    def prime(self) -> None:
        """Before serve says it is ready: what the first requests would otherwise wait for
        (the log scans behind the experiment list and the recommendations) and, when no
        earlier run left its answers, every scorecard (the experiments page)."""
        self.recommendations()
        experiments = self.definitions()
        self.answers.missing_cards(experiments, self.position())
        if experiments:  # imports and opens what a history needs
            self.history(experiments[0].key)

    # -- experiments ---------------------------------------------------------------------------

    def definitions(self) -> list[Experiment]:
        """Every experiment as the event store has it now (cached per log head)."""
        head = self.head()
        return list(
            self.remembered.get(("definitions", head), lambda: self.catalog.definitions(head))
        )

    def experiments(self, status: str = "", tag: str = "", query: str = "") -> dict[str, Any]:
        if not self.charts_prepared:  # the next page opened is likely an experiment's
            self.charts_prepared = True
            threading.Thread(target=prepare, name="charts", daemon=True).start()
        position = self.position()
        rows, positions = [], [position]
        for experiment in self.definitions():
            at, row = self._overview_row(experiment, position)
            rows.append(row)
            positions.append(at)
        head = self.head()
        all_tags = sorted({t for r in rows for t in r["tags"]})
        shown = [
            r
            for r in rows
            if (not status or r["status"] == status) and (not tag or tag in r["tags"])
        ]
        hits: list[dict[str, Any]] = []
        if query:
            hits = self.search(query)
            order = {h["key"]: i for i, h in enumerate(hits)}
            shown = sorted((r for r in shown if r["key"] in order), key=lambda r: order[r["key"]])
        return {
            "rows": shown,
            "tags": all_tags,
            "statuses": sorted({r["status"] for r in rows}),
            "status": status,
            "tag": tag,
            "query": query,
            "hits": {h["key"]: h for h in hits},
            "position": min(positions),  # the page is as fresh as its oldest number
            "head": head,
            "engine": self.services.engine,
        }

    def _overview_row(self, experiment: Experiment, position: int) -> tuple[int, dict[str, Any]]:
        """The definition as it is now, the numbers from the newest snapshot."""
        row: dict[str, Any] = {
            "key": experiment.key,
            "name": experiment.name,
            "status": str(experiment.status),
            "owner": experiment.owner,
            "tags": list(experiment.tags),
            "users": 0,
            "primary": [],
            "srm": False,
            "guardrails_failing": [],
        }
        if len(experiment.variants) < 2:
            return position, row
        engine = self.services.engine
        at, card = self.snapshots.latest(
            ("card", experiment.key, engine, True),
            position,
            lambda: self.answers.card(experiment, engine, True),
        )
        primary = primary_metric(experiment)
        row["users"] = sum(card["users"].values())
        row["srm"] = bool(card["srm"]["mismatch"])
        row["primary"] = [r for r in card["rows"] if r["metric"] == primary]
        row["guardrails_failing"] = sorted({
            r["metric"] for r in card["rows"]
            if r.get("guardrail") and r["guardrail"]["status"] == "fail"
        })  # fmt: skip
        return at, row

    def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        """Experiments nearest in meaning (knowledge model), with their cosine similarity
        (the score the CLI and the MCP tools show)."""
        models = self.services.read_models()
        if self.services.catch_up:
            models.runner("knowledge").catch_up()
        hits = models.model("knowledge").search(query, limit=limit)
        return [{"key": h.key, "similarity": h.similarity} for h in hits]

    # -- one experiment ---------------------------------------------------------------------

    def experiment(
        self,
        key: str,
        engine: str,
        cuped: bool,
        as_of: datetime | None = None,
        recorded: bool = False,
    ) -> dict[str, Any]:
        """``as_of``: replay the log up to what had happened by then (event time), or with
        ``recorded`` what the platform had recorded by then."""
        if engine not in ENGINES:
            engine = self.services.engine
        experiment = self.services.app.experiment(key)
        with self.remembered.lock:
            self.opened.pop(key, None)
            self.opened[key] = time.monotonic()
            while len(self.opened) > REMEMBERED:
                self.opened.popitem(last=False)
        position = self.position()
        replayed = None
        if as_of is not None:
            replayed, charts = self._replayed(experiment, engine, as_of, recorded, position)
            experiment = replayed.experiment
            card = replayed.scorecard
            scorecard = _card_dict(card) if card is not None else None
            segments_at, segments = self._segments(experiment, position)
        else:
            self.answers.open(key)  # from now on the warmer keeps its charts fresh
            charted = self.answers.charted(key)
            card_at, scorecard = self.snapshots.latest(
                ("card", key, engine, cuped),
                position,
                lambda: self.answers.card(experiment, engine, cuped),
            )
            lift_at, lift = self.snapshots.latest(
                ("lift", key, engine), position, lambda: self.answers.lift(experiment, engine)
            )
            traffic_at, traffic = self.snapshots.latest(
                ("traffic", key), position, lambda: self.answers.traffic(experiment)
            )
            segments_at, segments = self._segments(experiment, position)
            charts = {**lift, **traffic}
            if not charted:
                self.first_opened()
            # what the page shows is as fresh as its oldest part
            position = min(card_at, lift_at, traffic_at, segments_at)
        return {
            "experiment": experiment,
            "engine": engine,
            "engines": ENGINES,
            "cuped": cuped,
            "as_of": as_of,
            "replay": replayed.as_dict() if replayed is not None else None,
            "scorecard": scorecard,
            "charts": charts,
            "recorded": recorded,
            "history": self.history(key, as_of if recorded else None),
            "recommendations": self.recommendations(key),
            "segments": segments,
            "position": position,
            "head": self.head(),
        }

    def _segments(self, experiment: Experiment, position: int) -> tuple[int, Any]:
        return self.snapshots.latest(
            ("segments", experiment.key), position, lambda: self.answers.segments(experiment)
        )

    def _replayed(
        self, experiment: Experiment, engine: str, as_of: datetime, recorded: bool, position: int
    ) -> tuple[Any, dict[str, str]]:
        """The replay up to ``as_of`` and the charts up to its day, remembered per time, cut
        and log head (a later event can still have happened before ``as_of``)."""
        from infrastructure.audit.replay import replay

        app, key, until = self.services.app, experiment.key, as_of.date()

        def run() -> Any:
            if recorded:
                return replay(app, key, as_of=as_of)
            return replay(app, key, occurred_by=as_of)

        replayed = self.remembered.get(("replay", key, as_of, recorded, self.head()), run)
        charts = self.remembered.get(
            ("charts", key, engine, until, position),
            lambda: {
                **self.answers.lift(replayed.experiment, engine, until),
                **self.answers.traffic(replayed.experiment, until),
            },
        )
        return replayed, charts

    def history(self, key: str, as_of: datetime | None = None) -> list[dict[str, Any]]:
        """The experiment's own events (newest first) with who and when."""
        from infrastructure.audit.history import ACTOR_FIELDS, jsonable
        from infrastructure.audit.replay import event_time

        app = self.services.app
        app.experiment(key)
        from domain.experiments.aggregate import experiment_id

        rows = []
        for event in app.events.get(experiment_id(key)):
            if as_of is not None and event.timestamp > as_of:
                break
            data = {k: v for k, v in vars(event).items() if not k.startswith("originator_")}
            data.pop("timestamp", None)
            actor = next((str(data[f]) for f in ACTOR_FIELDS if data.get(f)), "")
            rows.append({
                "version": event.originator_version,
                "event": type(event).__qualname__.rsplit(".", 1)[-1],
                "recorded_at": event.timestamp,
                "occurred_at": event_time(event),
                "actor": actor,
                "details": jsonable(data),
            })  # fmt: skip
        return rows[::-1][:HISTORY_ROWS]

    def recommendations(self, key: str | None = None, state: str | None = None) -> list[Any]:
        """Newest first (cached per log head)."""
        from infrastructure.recommendations import get_recommendation

        app = self.services.app
        head = self.head()
        found = self.remembered.get(
            ("recommendations", head),
            lambda: [get_recommendation(app, i) for i in self.catalog.recommendations(head)],
        )
        return [
            r for r in found[::-1]
            if (key is None or r.experiment_key == key) and (state is None or r.state == state)
        ]  # fmt: skip

    # -- operations ---------------------------------------------------------------------------

    def operations(self, statuses: list[Any]) -> dict[str, Any]:
        from infrastructure.ingest.tables import tables_for
        from projections.generations import Generation

        models = self.services.read_models()
        generations = []
        for name in models.names:
            try:
                generations += models.model(name).generations()
            except Exception as error:  # a model that cannot list its copies still shows
                generations.append(Generation(name, "?", f"error: {error}", 0))
        try:
            letters = tables_for(self.services.app).dead_letters(20)
        except Exception:
            letters = []
        return {
            "statuses": statuses,
            "generations": generations,
            "dead_letters": letters,
            "head": self.head(),
        }


def _card_dict(card: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from infrastructure.read_side import jsonable

    return jsonable(asdict(card))


def percent(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:+.1%}"


def number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:,.4g}" if isinstance(value, float) else f"{value:,}"


def moment(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value or "")
