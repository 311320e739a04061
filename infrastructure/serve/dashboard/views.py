"""What each dashboard page shows, as plain values for its template.

Numbers come from the read side the CLI uses (`LocalReadSide.results`: the analytics
model's scorecard), day-by-day series from the analytics model, the search from the
knowledge model, history and recommendations from the event store. Answers are cached
per read-model position: a page is recomputed only once new events were projected, in the
background while the previous answer is shown with its position.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from infrastructure.charts import Band, Series, line_chart
from infrastructure.read_side import ENGINES, LocalReadSide
from infrastructure.serve.dashboard.series import daily_series, primary_metric

HISTORY_ROWS = 200
log = logging.getLogger("neonblue.dashboard")


class PositionCache:
    """Values keyed by (what, read-model position); the oldest are dropped past ``size``.

    ``latest`` never makes a page wait for a recomputation once it rendered once: while the
    value at a new position is computed in the background, the newest earlier one is
    returned with its position (the page shows it, and its live refresh asks again)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.values: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.newest: dict[tuple[Any, ...], tuple[int, Any]] = {}
        self.running: set[tuple[Any, ...]] = set()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.values:
                self.values.move_to_end(key)
                return self.values[key]
        value = compute()
        self._store(key, value)
        return value

    def latest(
        self, what: tuple[Any, ...], position: int, compute: Callable[[], Any]
    ) -> tuple[int, Any]:
        with self.lock:
            if (*what, position) in self.values:
                return position, self.values[(*what, position)]
            older = self.newest.get(what)
            start = older is not None and what not in self.running
            if start:
                self.running.add(what)
        if older is None:
            return position, self.get((*what, position), compute)
        if start:
            threading.Thread(
                target=self._refresh, args=(what, position, compute), daemon=True
            ).start()
        return older

    def _refresh(self, what: tuple[Any, ...], position: int, compute: Callable[[], Any]) -> None:
        try:
            self.get((*what, position), compute)
        except Exception:  # the next request computes it again and reports the error
            log.exception("recomputing %s failed", what)
        finally:
            with self.lock:
                self.running.discard(what)

    def _store(self, key: tuple[Any, ...], value: Any) -> None:
        what, position = key[:-1], key[-1]
        with self.lock:
            self.values[key] = value
            if isinstance(position, int) and self.newest.get(what, (-1, None))[0] <= position:
                self.newest[what] = (position, value)
            while len(self.values) > self.size:
                self.values.popitem(last=False)


class Views:
    def __init__(self, read_side: LocalReadSide) -> None:
        self.read_side = read_side
        self.services = read_side.services
        self.cache = PositionCache()

    # -- positions ---------------------------------------------------------------------------

    def position(self) -> int:
        """The analytics model's position: what the numbers on the pages reflect."""
        return self.services.read_models().runner("analytics").projection.position()

    def head(self) -> int:
        return self.services.app.head()

    # -- experiments ---------------------------------------------------------------------------

    def experiments(self, status: str = "", tag: str = "", query: str = "") -> dict[str, Any]:
        position, rows = self.cache.latest(("overview",), self.position(), self._overview)
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
            "position": position,
            "head": head,
            "engine": self.services.engine,
        }

    def _overview(self) -> list[dict[str, Any]]:
        rows = []
        for experiment in self.services.app.experiments():
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
            if len(experiment.variants) >= 2:
                card = self.read_side.results(experiment.key, self.services.engine, True)[
                    "scorecard"
                ]
                primary = primary_metric(experiment)
                row["users"] = sum(card["users"].values())
                row["srm"] = bool(card["srm"]["mismatch"])
                row["primary"] = [r for r in card["rows"] if r["metric"] == primary]
                row["guardrails_failing"] = sorted({
                    r["metric"] for r in card["rows"]
                    if r.get("guardrail") and r["guardrail"]["status"] == "fail"
                })  # fmt: skip
            rows.append(row)
        return rows

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
        app = self.services.app
        experiment = app.experiment(key)
        position = card_at = self.position()
        replayed = None
        if as_of is not None:
            from infrastructure.audit.replay import replay

            if recorded:
                replayed = replay(app, key, as_of=as_of)
            else:
                replayed = replay(app, key, occurred_by=as_of)
            experiment = replayed.experiment
            card = replayed.scorecard
            scorecard = _card_dict(card) if card is not None else None
        else:
            card_at, scorecard = self.cache.latest(
                ("card", key, engine, cuped),
                position,
                lambda: self.read_side.results(key, engine, cuped)["scorecard"],
            )
        until = as_of.date() if as_of is not None else None
        charts_at, charts = self.cache.latest(
            ("charts", key, engine, until),
            position,
            lambda: self._charts(experiment, engine, until),
        )
        segments_at, segments = self.cache.latest(
            ("segments", key), position, lambda: self._segments(key)
        )
        if as_of is None:  # what the page shows is as fresh as its oldest part
            position = min(card_at, charts_at, segments_at)
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

    def _charts(self, experiment: Any, engine: str, until: date | None) -> dict[str, str]:
        series = daily_series(self.services.read_models(), experiment, engine, until)
        charts = {}
        control = experiment.variant_keys()[0] if experiment.variants else "control"
        for variant, lifts in series.lift.items():
            charts[f"lift-{variant}"] = line_chart(
                f"lift-{variant}",
                f"Cumulative lift of {series.primary}: {variant} vs {control} ({engine})",
                series.days,
                [Series(f"{variant} vs {control}", lifts)],
                Band("95% interval", series.lower[variant], series.upper[variant]),
                percent=True,
                zero_line=True,
                partial_last_day=series.partial_last_day,
            )
        charts["exposures"] = line_chart(
            "exposures", "Newly exposed users per day", series.days,
            [Series(v, values) for v, values in series.exposed.items()],
            partial_last_day=series.partial_last_day,
        )  # fmt: skip
        charts["srm"] = line_chart(
            "srm", "SRM p-value over time (below 0.001: sample ratio mismatch)", series.days,
            [Series("p-value", series.srm_p)], partial_last_day=series.partial_last_day,
        )  # fmt: skip
        return charts

    def _segments(self, key: str) -> list[dict[str, Any]]:
        from mcp_servers.clickhouse import queries
        from mcp_servers.clickhouse.segments import segment_rows

        experiment = self.services.app.experiment(key)
        analytics = self.services.read_models().analytics()
        raw = queries.segment_sums(
            analytics.client, analytics.live_database(), key, primary_metric(experiment), "", 10.0
        )
        return [r.model_dump() for r in segment_rows(experiment, primary_metric(experiment), raw)]

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
        from infrastructure.recommendations import recommendations

        found = self.cache.get(
            ("recommendations", self.head()), lambda: recommendations(self.services.app)
        )
        return [
            r for r in found[::-1]
            if (key is None or r.experiment_key == key) and (state is None or r.state == state)
        ]  # fmt: skip

    # -- operations ---------------------------------------------------------------------------

    def operations(self, statuses: list[Any]) -> dict[str, Any]:
        from infrastructure.ingest.tables import tables_for

        models = self.services.read_models()
        generations = []
        for name in models.names:
            try:
                generations += models.model(name).generations()
            except Exception as error:  # a model that cannot list its copies still shows
                generations.append({"model": name, "name": "?", "state": f"error: {error}"})
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
