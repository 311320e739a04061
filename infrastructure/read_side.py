"""The answers the CLI prints, computed in this process or fetched from `neonblue serve`.

Both sides run the same functions (`LocalReadSide`); a running `serve` runs them over the
stores it owns and the CLI only renders its JSON (`RemoteReadSide`), so an answer is the
same either way. Results are plain JSON-able dicts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import asdict
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from infrastructure.bootstrap import Services

ENGINES = ("frequentist", "sequential", "bayesian")


class ReadSide(Protocol):
    """What the CLI's read commands ask (`LocalReadSide` or serve's `RemoteReadSide`)."""

    def results(self, experiment: str, engine: str | None, cuped: bool) -> dict[str, Any]: ...

    def segments(
        self, experiment: str, dimension: str | None, metric: str | None
    ) -> dict[str, Any]: ...

    def projections(self) -> list[dict[str, Any]]: ...

    def ask(
        self, question: str, conversation_id: str | None = None, engine: str | None = None
    ) -> dict[str, Any]: ...

    def recommend(self, experiment: str, engine: str | None = None) -> dict[str, Any]: ...


ASK_KEYS = (
    "question",
    "mode",
    "parsed",
    "plan",  # the QueryPlan: intents, experiments, metrics, segments, period, ...
    "answer",
    "answered",
    "facts",  # every number of the answer: label, value, unit
    "notices",  # e.g. the LLM failed and the deterministic answer is shown
    "verification",
    "sources",  # the tool calls made
    "tools_used",
    "recommendation_id",
)
RECOMMEND_KEYS = (
    "experiment_key",
    "run_id",
    "proposal",
    "narrative",
    "recommendation_id",
    "waiting_for_approval",
    "tool_calls",
    "notes",
    "notices",
)


class LocalReadSide:
    """Opens the read models in this process (what `serve` runs for its clients)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def results(self, experiment: str, engine: str | None, cuped: bool) -> dict[str, Any]:
        """``engine`` None: the platform's default (``NEONBLUE_STATS_ENGINE``)."""
        from domain.statistics import AnalysisOptions
        from infrastructure.settings import ConfigurationError

        engine = engine or self.services.engine
        if engine not in ENGINES:
            raise ConfigurationError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        definition = self.services.app.experiment(experiment)
        models = self.services.read_models()
        runner = models.runner("analytics")
        if self.services.catch_up:
            runner.catch_up()
        card = models.analytics().scorecard(
            definition,
            AnalysisOptions(engine=engine),
            cuped=cuped,  # type: ignore[arg-type]
            as_of=datetime.now(UTC),  # running experiments' impact is projected up to now
        )
        return jsonable(
            {
                "scorecard": asdict(card),
                "position": runner.projection.position(),
                "head": runner.reader.head(),
            }
        )

    def segments(
        self, experiment: str, dimension: str | None, metric: str | None
    ) -> dict[str, Any]:
        """Lift per segment, as MCP's ``segment_breakdown`` answers it (the primary metric,
        or ``metric``; every dimension, or ``dimension``)."""
        from mcp.server.mcpserver.exceptions import ToolError

        from infrastructure.settings import ConfigurationError
        from mcp_servers.clickhouse.tools import ClickHouseTools

        self.services.app.experiment(experiment)  # an unknown key is the domain's error
        settings = self.services.mcp
        tools = ClickHouseTools(
            self.services,
            self.services.catch_up,
            settings.max_rows,
            settings.query_timeout_seconds,
        )
        try:
            answer = tools.segment_breakdown(
                experiment_id=experiment, dimension=dimension, metric=metric
            )
        except ToolError as error:  # what was asked cannot be broken down: say why
            raise ConfigurationError(str(error)) from None
        return jsonable(answer.model_dump(mode="json"))

    def projections(self) -> list[dict[str, Any]]:
        return [status.as_dict() for status in self.services.read_models().status()]

    def ask(
        self, question: str, conversation_id: str | None = None, engine: str | None = None
    ) -> dict[str, Any]:
        import anyio

        return anyio.run(self.ask_async, question, conversation_id, engine)

    async def ask_async(
        self, question: str, conversation_id: str | None = None, engine: str | None = None
    ) -> dict[str, Any]:
        """``engine`` None: the MCP servers' default."""
        runner = self.services.agents()
        async with runner.connected():
            state = await runner.ask(question, conversation_id, engine)
        used = sorted({f"{c['server']}.{c['tool']}" for c in state.get("sources") or []})
        return jsonable({k: state.get(k) for k in ASK_KEYS} | {"tools_used": used})

    def recommend(self, experiment: str, engine: str | None = None) -> dict[str, Any]:
        import anyio

        return anyio.run(self.recommend_async, experiment, engine)

    async def recommend_async(self, experiment: str, engine: str | None = None) -> dict[str, Any]:
        """``engine`` None: the agents' setting, else the platform's default."""
        self.services.app.experiment(experiment)  # a clear error for an unknown key first
        runner = self.services.agents()
        async with runner.connected():
            state = await runner.recommend(experiment, engine)
        return jsonable({k: state.get(k) for k in RECOMMEND_KEYS})


def jsonable(value: Any) -> Any:
    """``value`` as the JSON it travels as (so local and remote answers are equal)."""
    return json.loads(dumps(value))


def dumps(value: Any) -> str:
    """Strict JSON (RFC 8259, as browsers and ``jq`` parse it): an undefined statistic (NaN,
    infinite) is ``null``; other non-JSON objects are written as strings."""
    return json.dumps(_finite(value), default=str, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def scorecard_of(answer: dict[str, Any]) -> Any:
    """The `Scorecard` of a `results` answer, for rendering; a statistic the JSON carries
    as null (undefined) is NaN again, as the analysis made it."""
    from pydantic import TypeAdapter

    from domain.analysis import Scorecard

    return TypeAdapter(Scorecard).validate_python(_undefined_as_nan(Scorecard, answer["scorecard"]))


def _undefined_as_nan(cls: type, data: Any) -> Any:
    """``data`` (a dataclass's JSON) with null fields declared ``float`` as NaN, nested."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for name, kind in _field_types(cls).items():
        value = data.get(name)
        if kind is float and value is None and name in data:
            data[name] = math.nan
        for inner in _dataclasses_in(kind):
            if isinstance(value, list):
                data[name] = [_undefined_as_nan(inner, item) for item in value]
            elif isinstance(value, dict):
                data[name] = _undefined_as_nan(inner, value)
    return data


@cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _dataclasses_in(kind: Any) -> list[type]:
    """The dataclasses a field holds: itself, in ``X | None`` or in ``list[X]``."""
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        return [kind]
    if typing.get_origin(kind) in (list, typing.Union, types.UnionType):
        return [c for arg in typing.get_args(kind) for c in _dataclasses_in(arg)]
    return []


def lag_notice(answer: dict[str, Any]) -> str | None:
    """What a results answer leaves out: events the analytics model has not reached yet
    (e.g. a stuck or restarting projection under `serve`); None when it is caught up."""
    position, head = answer.get("position"), answer.get("head")
    if not isinstance(position, int) or not isinstance(head, int) or head <= position:
        return None
    return (
        f"These results are as of log position {position:,}; the log is at {head:,}, so "
        f"{head - position:,} newer event(s) are not in them yet "
        "(`neonblue projections status` shows the analytics model's progress)."
    )
