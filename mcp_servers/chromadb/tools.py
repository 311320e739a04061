"""Tools of the ChromaDB server: semantic search, and notes recorded as domain events."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from mcp_servers.common.deps import ReadSide
from mcp_servers.common.errors import tool_errors
from mcp_servers.common.freshness import Freshness
from mcp_servers.common.inputs import ExperimentKey, Flag, FreeText, Name, Tag


class SearchFilters(BaseModel):
    """Every filter is named; anything else (``$ne``, unknown keys) is refused, never ignored."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["draft", "running", "paused", "stopped", "concluded"] | None = None
    tag: Tag | None = None
    outcome: Literal["ship", "rollback", "inconclusive", "none"] | None = None
    min_lift: Annotated[float, Strict(), Field(ge=-10, le=10)] | None = None
    significant: Flag | None = None

    def where(self) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if self.status:
            clauses.append({"status": self.status})
        if self.tag:
            clauses.append({f"tag_{self.tag}": True})
        if self.outcome:
            clauses.append({"outcome": self.outcome})
        if self.min_lift is not None:
            clauses.append({"lift": {"$gte": self.min_lift}})
        if self.significant is not None:
            clauses.append({"significant": self.significant})
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class Hit(BaseModel):
    key: str
    similarity: float = Field(
        description="Cosine similarity to the query: 1 = same meaning, 0 = unrelated; "
        "higher is closer (results are sorted by it)."
    )
    distance: float = Field(description="Cosine distance (1 - similarity); lower is closer.")
    status: str
    outcome: str
    lift: float | None
    significant: bool | None
    tags: list[str]
    snippet: str


class SearchResults(BaseModel):
    query: str
    results: list[Hit]
    freshness: Freshness


class StoredContext(BaseModel):
    experiment_id: str
    status: Literal["recorded"]
    position: int = Field(description="Event-log position of the recorded note.")
    searchable: bool = Field(description="True once the knowledge base reflects the note.")
    freshness: Freshness


def _reached(runner: Any, position: int, wait_seconds: float = 5.0) -> bool:
    """Whether the knowledge base reflects ``position`` (a follower may need a moment)."""
    deadline = time.monotonic() + wait_seconds
    while runner.projection.position() < position:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class ChromaTools:
    def __init__(self, services: ReadSide, catch_up: bool = True) -> None:
        self.services = services
        self.catch_up = catch_up

    def version(self) -> tuple[int, int]:
        """What the answers are computed from: the log head and the knowledge base's position."""
        runner = self.services.read_models().runner("knowledge")
        return runner.reader.head(), runner.projection.position()

    def freshness(self) -> Freshness:
        status = self.services.read_models().runner("knowledge").status()
        return Freshness.of("chromadb", status.position, status.head)

    def _knowledge(self) -> Any:
        models = self.services.read_models()
        if self.catch_up:
            models.runner("knowledge").catch_up()
        return models.model("knowledge")

    def semantic_experiment_search(
        self,
        query: FreeText,
        filters: SearchFilters | None = None,
        n_results: Annotated[int, Strict(), Field(ge=1, le=20)] = 5,
    ) -> SearchResults:
        """Past and running experiments nearest in meaning to ``query`` (best first),
        optionally filtered by status, tag, outcome, minimum lift or significance."""
        with tool_errors():
            hits = self._knowledge().search(query, n_results, (filters or SearchFilters()).where())
        return self._results(query, hits)

    def find_similar_experiments(
        self,
        experiment_id: ExperimentKey,
        filters: SearchFilters | None = None,
        n_results: Annotated[int, Strict(), Field(ge=1, le=20)] = 5,
    ) -> SearchResults:
        """Other experiments nearest in meaning to ``experiment_id`` (its knowledge-base
        document: hypothesis, description, tags, outcome, notes), best first, optionally
        filtered as `semantic_experiment_search`."""
        with tool_errors():
            self.services.app.experiment(experiment_id)  # a clear error for an unknown key
            hits = self._knowledge().similar_to(
                experiment_id, n_results, (filters or SearchFilters()).where()
            )
        return self._results(f"similar to {experiment_id}", hits)

    def _results(self, query: str, hits: list[Any]) -> SearchResults:
        return SearchResults(
            query=query,
            results=[
                Hit(
                    key=h.key,
                    similarity=round(h.similarity, 4),
                    distance=h.distance,
                    status=str(h.metadata.get("status", "")),
                    outcome=str(h.metadata.get("outcome", "none")),
                    lift=h.metadata.get("lift"),
                    significant=h.metadata.get("significant"),
                    tags=[t for t in str(h.metadata.get("tags", "")).split(",") if t],
                    snippet=h.document[:300],
                )
                for h in hits
            ],
            freshness=self.freshness(),
        )

    def store_experiment_context(
        self,
        experiment_id: ExperimentKey,
        notes: Annotated[str, Field(min_length=1, max_length=4000, pattern=r"\S")],
        author: Name = "mcp-client",
    ) -> StoredContext:
        """Record notes about an experiment (a domain event); the knowledge base picks them up
        through its projection, never by a direct write."""
        with tool_errors():
            self.services.app.add_note(experiment_id, notes, author)
            position = self.services.app.head()
            runner = self.services.read_models().runner("knowledge")
            if self.catch_up:
                runner.catch_up()
            searchable = _reached(runner, position)
        return StoredContext(
            experiment_id=experiment_id,
            status="recorded",
            position=position,
            searchable=searchable,
            freshness=self.freshness(),
        )
