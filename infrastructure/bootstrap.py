"""The composition root: the only place where settings become wired objects.

Entry points (the CLI, `neonblue serve`, benchmarks, tests) call `bootstrap()` and take what
they need from `Services`; adapters (projections, MCP servers, agents) receive their
dependencies and construct none. Everything is built on first use, so a command pays
only for what it touches (a stdio MCP server answers `initialize` before any store opens).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import IntegrityError, InternalError, ProgrammingError

from infrastructure.application import NeonBlue
from infrastructure.settings import (
    ConfigurationError,
    EventStoreSettings,
    KafkaSettings,
    McpSettings,
    StatisticsSettings,
)

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from agents.runner import AgentRunner
    from infrastructure.conversations import ConversationStore
    from projections.models import ReadModels

SERVER_NAMES = ("postgresql", "clickhouse", "chromadb", "experiment_intelligence")
READ_SERVERS = ("postgresql", "clickhouse", "chromadb")
"""The servers the agents read through."""


class UnknownServer(ConfigurationError):
    """An MCP server name that does not exist."""


@dataclass
class Services:
    """Everything an entry point needs, built from settings on first use.

    ``follows_log``: a follower (`neonblue serve`) keeps the read models at the head, so
    tools answer at the models' position instead of catching them up first.
    """

    event_store: EventStoreSettings
    app: NeonBlue
    mcp: McpSettings = field(default_factory=McpSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    statistics: StatisticsSettings = field(default_factory=StatisticsSettings)
    follows_log: bool = False
    _read_models: ReadModels | None = field(default=None, repr=False)
    _servers: dict[str, MCPServer] = field(default_factory=dict, repr=False)
    _agents: AgentRunner | None = field(default=None, repr=False)
    _subject_of: Callable[[str], str] | None = field(default=None, repr=False)

    @property
    def engine(self) -> str:
        """The default statistics engine (``NEONBLUE_STATS_ENGINE``)."""
        return self.statistics.stats_engine

    @property
    def catch_up(self) -> bool:
        return self.mcp.catch_up and not self.follows_log

    def read_models(self) -> ReadModels:
        """The analytics (ClickHouse/chDB), relational (SQL) and knowledge (Chroma) models."""
        if self._read_models is None:
            self._read_models = _build_read_models(self.app, self.event_store)
        return self._read_models

    def mcp_server(self, name: str) -> MCPServer:
        """One of the four MCP servers, built once and wired to these services."""
        if name not in self._servers:
            try:
                builder = _SERVER_BUILDERS[name]
            except KeyError:
                raise UnknownServer(
                    f"No MCP server named {name!r}; choose one of {', '.join(SERVER_NAMES)}."
                ) from None
            self._servers[name] = builder(self)
        return self._servers[name]

    def read_servers(self) -> dict[str, Any]:
        """The read-model servers in this process, as MCP client targets (in-memory), each
        built when a run first calls it (a question about one experiment builds one)."""
        from functools import partial

        from agents.common.toolbox import Deferred

        return {name: Deferred(partial(self.mcp_server, name)) for name in READ_SERVERS}

    def subject_of(self, user_id: str) -> str:
        """The id the store keeps for a user: its pseudonym when ingest protects personal
        data (participations and server-side bucketing use it), else the id itself."""
        if self._subject_of is None:
            from infrastructure.privacy.crypto import Pseudonymizer
            from infrastructure.privacy.secret import platform_secret
            from infrastructure.settings.privacy import PrivacySettings

            settings = PrivacySettings()
            self._subject_of = (
                Pseudonymizer(platform_secret(self.app, settings)) if settings.privacy else str
            )
        return self._subject_of(user_id)

    def agents(self) -> AgentRunner:
        """The agent graphs, reading through the in-process MCP servers."""
        if self._agents is None:
            from agents.common.llm import LlmSettings
            from agents.runner import AgentRunner

            self._agents = AgentRunner(
                self, self.read_servers(), LlmSettings(), self.conversations()
            )
        return self._agents

    def conversations(self) -> ConversationStore:
        """The follow-up contexts of `ask` (files under the data directory)."""
        from infrastructure.conversations import ConversationStore

        return ConversationStore(self.event_store.data_dir / "conversations")

    def close(self) -> None:
        if self._read_models is not None:
            self._read_models.close()
        self.app.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def build_app(settings: EventStoreSettings, attempts: int = 6) -> NeonBlue:
    """The application; retries when processes starting together race to create tables.

    Concurrent ``CREATE ... IF NOT EXISTS`` in Postgres can fail with "tuple concurrently
    updated", "relation already exists" or a unique violation on the catalog; a moment
    later the tables exist (a real error repeats and is raised after the last attempt).
    """
    for attempt in range(attempts):
        try:
            return NeonBlue(env=settings.eventsourcing_env())
        except (InternalError, IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * 2**attempt)
    raise AssertionError("unreachable")


def bootstrap(
    event_store: EventStoreSettings | None = None,
    mcp: McpSettings | None = None,
    follows_log: bool = False,
    vector_index: bool = True,
) -> Services:
    """Builds the services; settings default to the NEONBLUE_* environment.

    ``vector_index``: whether this process may open Chroma's HNSW index (any read tool's
    catch-up does). Only such a process fills freed heap memory when privacy is on
    (privacy/heap.py): the Kafka ingest loop, which never opens it, skips that cost."""
    from infrastructure.privacy.heap import scrub_freed_memory
    from infrastructure.settings.privacy import PrivacySettings

    if vector_index and PrivacySettings().privacy:  # before any personal data is in memory
        scrub_freed_memory()
    event_store = event_store or EventStoreSettings()
    return Services(
        event_store=event_store,
        app=build_app(event_store),
        mcp=mcp or McpSettings(),
        follows_log=follows_log,
    )


# -- read models ----------------------------------------------------------------------------


def _build_read_models(app: NeonBlue, event_store: EventStoreSettings) -> ReadModels:
    from infrastructure.settings import ChromaSettings, ClickHouseSettings
    from projections.models import ReadModels, results_summary
    from projections.rebuild import Rebuildable

    # embedded stores live next to the event store's data directory
    models = ReadModels(app, ClickHouseSettings(data_dir=event_store.data_dir))

    def relational() -> Rebuildable:
        from projections.relational.model import RelationalModel

        model = RelationalModel(app, event_store)
        models.on_close(model.close)
        return model

    def knowledge() -> Rebuildable:
        from infrastructure.embeddings import build_embedder
        from projections.knowledge.model import KnowledgeModel, chroma_client

        settings = ChromaSettings(data_dir=event_store.data_dir)
        return KnowledgeModel(
            app,
            chroma_client(settings),
            build_embedder(),
            settings.chroma_collection,
            results=lambda experiment: results_summary(models, experiment),
        )

    models.add("relational", relational)
    models.add("knowledge", knowledge)
    return models


# -- MCP servers ----------------------------------------------------------------------------


def _postgresql(services: Services) -> MCPServer:
    from mcp_servers.common.sources import RelationalSource
    from mcp_servers.postgresql.server import build_server

    models = services.read_models()
    refresh = (lambda: models.runner("relational").catch_up()) if services.catch_up else None
    source = RelationalSource(services.app, models.model("relational"), refresh)  # type: ignore[arg-type]
    return build_server(
        services.app,
        source,
        services.mcp.max_rows,
        services.engine,
        services.subject_of,
        services.mcp.answer_cache_seconds,
    )


def _clickhouse(services: Services) -> MCPServer:
    from mcp_servers.clickhouse.server import build_server

    return build_server(services, services.mcp.model_copy(update={"catch_up": services.catch_up}))


def _chromadb(services: Services) -> MCPServer:
    from mcp_servers.chromadb.server import build_server

    return build_server(services, services.mcp.model_copy(update={"catch_up": services.catch_up}))


def _experiment_intelligence(services: Services) -> MCPServer:
    from mcp_servers.experiment_intelligence.server import build_server

    return build_server(services.app, services.agents())


_SERVER_BUILDERS: dict[str, Callable[[Services], MCPServer]] = {
    "postgresql": _postgresql,
    "clickhouse": _clickhouse,
    "chromadb": _chromadb,
    "experiment_intelligence": _experiment_intelligence,
}
