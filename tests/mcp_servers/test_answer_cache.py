"""Read-only tool answers kept while nothing they read has moved, and the agents' toolbox
that builds in-process servers only when a call needs them."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from freezegun import freeze_time
from mcp.server.mcpserver.tools import Tool

from agents.common.toolbox import Deferred, McpToolbox
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings, McpSettings
from mcp_servers.common.cache import AnswerCache
from mcp_servers.common.inputs import ExperimentKey
from mcp_servers.common.registration import READ_ONLY, strict_tool
from tests.factories import conversion_metrics, two_variants


class Counting:
    """A tool that counts how often it really ran, at a version the test moves."""

    def __init__(self) -> None:
        self.version = 1
        self.runs = 0
        self.fail = False

    def lift(self, experiment_id: ExperimentKey, days: int = 7) -> dict[str, int]:
        """A lift (the docstring is the tool's description)."""
        self.runs += 1
        if self.fail:
            raise RuntimeError("read model unavailable")
        return {"runs": self.runs, "days": days}


def test_an_answer_is_kept_until_the_log_or_the_read_model_moves():
    tool = Counting()
    lift = AnswerCache(lambda: tool.version, ttl_seconds=60).wrap(tool.lift)
    assert lift("a") == lift("a") == {"runs": 1, "days": 7}
    assert lift("a", days=14) == {"runs": 2, "days": 14}  # other arguments: computed
    assert lift("b")["runs"] == 3
    tool.version = 2  # an event was recorded (or the projection advanced)
    assert lift("a")["runs"] == 4
    assert lift("a")["runs"] == 4


def test_answers_expire_and_failures_are_never_kept():
    tool = Counting()
    cache = AnswerCache(lambda: tool.version, ttl_seconds=60)
    lift = cache.wrap(tool.lift)
    with freeze_time("2026-12-01 12:00:00") as clock:
        assert lift("a")["runs"] == 1
        clock.tick(59)
        assert lift("a")["runs"] == 1
        clock.tick(2)  # a running experiment's numbers depend on the clock
        assert lift("a")["runs"] == 2
    tool.fail, tool.version = True, 3
    for _ in range(2):
        with pytest.raises(RuntimeError):
            lift("a")
    assert tool.runs == 4
    assert (cache.hits, cache.misses) == (1, 4)


def test_off_leaves_the_tool_alone_and_on_keeps_its_schema():
    tool = Counting()
    assert AnswerCache(lambda: 1, ttl_seconds=0).wrap(tool.lift) == tool.lift
    plain = strict_tool(tool.lift, READ_ONLY)
    cached = strict_tool(AnswerCache(lambda: 1, ttl_seconds=60).wrap(tool.lift), READ_ONLY)
    assert isinstance(cached, Tool)
    assert (cached.name, cached.description) == (plain.name, plain.description)
    assert cached.parameters == plain.parameters
    assert cached.output_schema == plain.output_schema


@pytest.mark.anyio
async def test_the_experiment_list_changes_with_the_log(tmp_path: Path):
    """End to end through the PostgreSQL server: a kept answer is never older than the log."""
    settings = EventStoreSettings(data_dir=tmp_path, event_store="")
    with bootstrap(settings, McpSettings(answer_cache_seconds=600)) as services:
        built: list[str] = []

        def postgresql():
            built.append("postgresql")
            return services.mcp_server("postgresql")

        def never():
            raise AssertionError("no question here needs this server")

        servers = {"postgresql": Deferred(postgresql), "clickhouse": Deferred(never)}
        async with McpToolbox(servers) as toolbox:
            assert built == []  # nothing built before a call needs it

            async def listing() -> dict:
                return await toolbox.for_run().call("postgresql", "list_experiments", {})

            services.app.create_experiment(
                "first", "First", variants=two_variants(), metrics=conversion_metrics()
            )
            answers: list[dict] = []
            async with anyio.create_task_group() as group:  # calls from tasks of their own
                for _ in range(3):
                    group.start_soon(lambda: _append(answers, listing()))
            assert built == ["postgresql"]  # built once, though three tasks asked at once
            assert [[e["key"] for e in a["experiments"]] for a in answers] == [["first"]] * 3
            first = await listing()
            assert (await listing())["freshness"] == first["freshness"]  # kept, not recomputed
            services.app.create_experiment(
                "second", "Second", variants=two_variants(), metrics=conversion_metrics()
            )
            second = await listing()
            assert [e["key"] for e in second["experiments"]] == ["first", "second"]
            assert second["freshness"]["head"] > first["freshness"]["head"]


async def _append(answers: list[dict], answer) -> None:
    answers.append(await answer)
