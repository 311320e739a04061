"""The Chroma knowledge base: one document per experiment, for semantic search.

The document text is what a person would search by (name, hypothesis, description,
variants, metrics, latest results, decision); metadata allows filtering (status, tags,
outcome, lift, significance, dates). Documents are upserted by experiment key (so a
replayed batch changes nothing) and the position is stored after them in the same
Chroma, in the meta collection.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.experiments.aggregate import Experiment
from infrastructure.application import NeonBlue
from infrastructure.embeddings import Embedder
from projections.generations import GenerationChanged
from projections.log import EXPERIMENT_TOPICS, LogEvent
from projections.writer_lock import sole_writer

NAME = "knowledge"

ResultsSource = Callable[[Experiment], dict[str, Any] | None]
"""Latest results of an experiment: ``lift``, ``p_value``, ``significant``, ``users``,
``summary`` (text), or None when there are none yet."""


def document_text(experiment: Experiment, results: dict[str, Any] | None) -> str:
    variants = "; ".join(f"{v.key}: {v.name}" for v in experiment.variants)
    metrics = ", ".join(f"{m.key} ({m.role}, {m.kind})" for m in experiment.metrics)
    lines = [
        experiment.name,
        f"Hypothesis: {experiment.hypothesis}",
        f"Description: {experiment.description}",
        f"Tags: {', '.join(experiment.tags)}",
        f"Variants: {variants}",
        f"Metrics: {metrics}",
        f"Status: {experiment.status}",
    ]
    for note in getattr(experiment, "notes", []):
        lines.append(f"Note: {note}")
    if results and results.get("summary"):
        lines.append(f"Results: {results['summary']}")
    if experiment.conclusion:
        c = experiment.conclusion
        lines.append(f"Decision: {c.decision} {c.winner or ''} - {c.reason}".rstrip(" -"))
    return "\n".join(lines)


def document_metadata(
    experiment: Experiment, results: dict[str, Any] | None, position: int
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "key": experiment.key,
        "status": str(experiment.status),
        "owner": experiment.owner,
        "tags": ",".join(experiment.tags),
        "outcome": str(experiment.conclusion.decision) if experiment.conclusion else "none",
        "started_at": experiment.started_at.timestamp() if experiment.started_at else 0.0,
        "stopped_at": experiment.stopped_at.timestamp() if experiment.stopped_at else 0.0,
        "version": experiment.version,
        "position": position,
    }
    meta.update({f"tag_{tag}": True for tag in experiment.tags})
    if results:
        meta.update(
            lift=float(results.get("lift", 0.0)),
            p_value=float(results.get("p_value", 1.0)),
            significant=bool(results.get("significant", False)),
            users=int(results.get("users", 0)),
        )
    return meta


def material_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> bool:
    """Results worth re-embedding: significance flips, lift moves 1 pp, users grow 10 %."""
    if new is None:
        return False
    if old is None or "lift" not in old:
        return True
    return (
        bool(old.get("significant")) != bool(new.get("significant"))
        or abs(float(old["lift"]) - float(new.get("lift", 0.0))) > 0.01
        or int(new.get("users", 0)) > 1.1 * int(old.get("users", 0))
    )


class KnowledgeProjection:
    """Upserts experiment documents into one Chroma collection."""

    name = NAME
    topics = EXPERIMENT_TOPICS

    def __init__(
        self,
        app: NeonBlue,
        collection: Any,
        meta: Any,
        embedder: Embedder,
        results: ResultsSource | None = None,
        refresh_seconds: float = 30.0,
        locate: Callable[[KnowledgeProjection], None] | None = None,
        check: Callable[[str], None] | None = None,
    ) -> None:
        self.app = app
        self.locate = locate
        """Called before each batch; moves a live projection to the live collection after
        a switch (raising `GenerationChanged`)."""
        self.check = check
        """Called with the collection's name before each batch is written (refuses one
        built with another embedding)."""
        self.collection = collection
        self.meta = meta
        self.embedder = embedder
        self.results = results
        self.refresh_seconds = refresh_seconds
        self._refreshed = 0.0
        self._expected: int | None = None  # the stored position this writer last saw

    def setup(self) -> None:
        """Collections are created by the model."""

    def position(self) -> int:
        self._follow_switch()
        self._expected = self._stored_position()
        return self._expected

    def _stored_position(self) -> int:
        found = self.meta.get(ids=[f"position:{self.collection.name}"], include=["metadatas"])
        return int(found["metadatas"][0]["position"]) if found["ids"] else 0

    def _follow_switch(self) -> None:
        """A live projection moves to the live copy when a rebuild switched."""
        if self.locate is not None:
            with contextlib.suppress(GenerationChanged):
                self.locate(self)

    def process(self, events: list[LogEvent], position: int) -> None:
        self._relocate()
        if self.check is not None:
            self.check(self.collection.name)
        # one writer per collection at a time: an older batch written after a newer one
        # would leave an old document under the newer position
        with sole_writer(
            self.app, f"{NAME}:{self.collection.name}", self._expected, self._stored_position,
            self._forget_position, self._relocate,
        ):  # fmt: skip
            self._process(events, position)
        self._expected = position

    def _relocate(self) -> None:
        if self.locate is not None:
            self.locate(self)

    def _forget_position(self) -> None:
        self._expected = None

    def _process(self, events: list[LogEvent], position: int) -> None:
        touched = {event.originator_id: event.version for event in events}
        experiments = [
            self.app.repository.get(UUID(eid), version=version) for eid, version in touched.items()
        ]
        self._upsert(experiments, position)
        if self.results is not None and time.monotonic() - self._refreshed > self.refresh_seconds:
            self.refresh_results(position)
        self.meta.upsert(
            ids=[f"position:{self.collection.name}"],
            embeddings=[[1.0, 0.0]],
            metadatas=[{"position": position}],
        )

    def refresh_results(self, position: int | None = None) -> int:
        """Re-embeds experiments whose results changed materially; returns how many."""
        self._refreshed = time.monotonic()
        stored = self.collection.get(include=["metadatas"])
        changed = []
        for meta in stored["metadatas"]:
            experiment = self.app.experiment(meta["key"])
            if material_change(meta, self.results(experiment) if self.results else None):
                changed.append(experiment)
        pos = position if position is not None else self.position()
        self._upsert(changed, pos)
        return len(changed)

    def _upsert(self, experiments: list[Experiment], position: int) -> None:
        if not experiments:
            return
        results = [self.results(e) if self.results else None for e in experiments]
        texts = [document_text(e, r) for e, r in zip(experiments, results, strict=True)]
        self.collection.upsert(
            ids=[e.key for e in experiments],
            documents=texts,
            embeddings=self.embedder.embed_documents(texts),
            metadatas=[
                document_metadata(e, r, position) for e, r in zip(experiments, results, strict=True)
            ],
        )

    def checksum(self) -> dict[str, str]:
        self._follow_switch()
        stored = self.collection.get(include=["documents", "metadatas"])
        rows = sorted(
            (i, d, sorted((k, v) for k, v in m.items() if k != "position"))
            for i, d, m in zip(stored["ids"], stored["documents"], stored["metadatas"], strict=True)
        )
        return {"documents": f"{len(rows)}:{hashlib.sha256(repr(rows).encode()).hexdigest()[:16]}"}
