"""The knowledge base as a whole: Chroma client, live collection, rebuild, search.

Each build is a collection ``<prefix>_<embedder>_<generation>``; the meta collection's
``live`` record names the live one and ``build:<collection>`` records who builds a copy.
A switch rewrites ``live`` first and deletes the previous collection afterwards
(`collect`), so a kill in between leaves a leftover that `status` lists and `gc` removes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from infrastructure.application import NeonBlue
from infrastructure.embeddings import Embedder
from infrastructure.settings import ChromaSettings, ConfigurationError
from projections.generations import (
    BUILDING,
    LIVE,
    Generation,
    GenerationChanged,
    crash_point,
    owner,
)
from projections.knowledge.projection import NAME, KnowledgeProjection, ResultsSource
from projections.writer_lock import writer_lock

_LIVE = "live"


@dataclass(frozen=True)
class SearchHit:
    key: str
    distance: float  # cosine distance, as Chroma returns it (0 = same direction)
    metadata: dict[str, Any]
    document: str

    @property
    def similarity(self) -> float:
        """Cosine similarity to the query: 1 same meaning, 0 unrelated (what to show)."""
        return 1.0 - self.distance


def _not_found() -> type[Exception]:
    """Chroma's error for a collection that is gone (imported late: chromadb is heavy)."""
    from chromadb.errors import NotFoundError

    return NotFoundError


def chroma_client(settings: ChromaSettings) -> Any:
    """PersistentClient under the data dir, or HttpClient for a Chroma server."""
    import chromadb

    if settings.embedded:
        settings.persist_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.persist_path))
    url = urlparse(settings.chroma_url)
    if not url.hostname:
        raise ConfigurationError(
            f"NEONBLUE_CHROMA_URL={settings.chroma_url!r}: use http://host:port"
        )
    return chromadb.HttpClient(host=url.hostname, port=url.port or 8000, ssl=url.scheme == "https")


class KnowledgeModel:
    """Live knowledge-base collection, fresh copies for rebuilds, and semantic search."""

    name = NAME

    def __init__(
        self,
        app: NeonBlue,
        client: Any,
        embedder: Embedder,
        prefix: str = "experiments",
        results: ResultsSource | None = None,
    ) -> None:
        self.app = app
        self.client = client
        self.embedder = embedder
        self.prefix = prefix
        self.results = results
        self.meta = client.get_or_create_collection(f"{prefix}_meta", embedding_function=None)
        self._names = re.compile(rf"{re.escape(prefix)}_(.+)_(\d+)")  # <prefix>_<embedder>_<n>

    def _collection(self, name: str) -> Any:
        return self.client.get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    def live_collection(self) -> str:
        found = self.meta.get(ids=[_LIVE], include=["metadatas"])
        if found["ids"]:
            return str(found["metadatas"][0]["collection"])
        name = f"{self.prefix}_{self.embedder.name}_1"
        self._set_live(name)
        return name

    def projection(self, collection: str | None = None) -> KnowledgeProjection:
        """The live projection (following switches), or one on ``collection``."""
        name = collection or self.live_collection()
        return KnowledgeProjection(
            self.app,
            self._collection(name),
            self.meta,
            self.embedder,
            self.results,
            locate=None if collection else self._locate_live,
            check=self._require_embedder,
        )

    def fresh_copy(self) -> KnowledgeProjection:
        with writer_lock(self.app, f"{NAME}:generations"):  # rebuilds starting together
            live = self.live_collection()  # would pick one name, the second dropping the first
            numbers = [int(live.rsplit("_", 1)[-1]), *self._numbers().values()]
            name = f"{self.prefix}_{self.embedder.name}_{max(numbers) + 1}"
            self.meta.upsert(
                ids=[f"build:{name}"], embeddings=[[0.0, 1.0]], metadatas=[{"owner": owner()}]
            )
        crash_point(NAME, "registered")
        if name in self._numbers():
            self.client.delete_collection(name)
        self.meta.delete(ids=[f"position:{name}"])
        return self.projection(name)

    def switch(self, projection: KnowledgeProjection) -> str:
        old = self.live_collection()
        crash_point(NAME, "before-switch")
        self._set_live(projection.collection.name)
        self.meta.delete(ids=[f"build:{projection.collection.name}"])
        projection.locate = self._locate_live
        crash_point(NAME, "switched")
        self.collect()
        return old

    def generations(self) -> list[Generation]:
        """Collections of this knowledge base: live, being built, leftovers (size: an
        estimate from the number of documents and the embedding's dimension)."""
        live = self.live_collection()
        found = []
        for name, _ in sorted(self._numbers().items(), key=lambda item: item[1]):
            build = self.meta.get(ids=[f"build:{name}"], include=["metadatas"])
            recorded = str(build["metadatas"][0]["owner"]) if build["ids"] else ""
            state = LIVE if name == live else BUILDING if recorded else "orphan"
            try:
                size = self._estimated_bytes(name)
            except _not_found():  # collected by another process since it was listed
                continue
            found.append(Generation(NAME, name, state, size, recorded))
        return found

    def collect(self, force: bool = False) -> list[Generation]:
        """Deletes collections neither live nor being built by a running process."""
        removed = []
        for generation in self.generations():
            if generation.state != LIVE and (force or generation.leftover):
                with suppress(_not_found()):  # another process collected it first
                    self.client.delete_collection(generation.name)
                self.meta.delete(ids=[f"position:{generation.name}", f"build:{generation.name}"])
                removed.append(generation)
                crash_point(NAME, "collected-one")
        return removed

    def _numbers(self) -> dict[str, int]:
        """Collections of this prefix and their generation numbers (any embedder)."""
        found = {}
        for collection in self.client.list_collections():
            name = getattr(collection, "name", collection)
            if match := self._names.fullmatch(name):
                found[name] = int(match.group(2))
        return found

    def _require_embedder(self, collection: str) -> None:
        """Vectors of two embeddings do not compare: writing to, or searching, a collection
        built with another one would mix meaning spaces without any error."""
        match = self._names.fullmatch(collection)
        if match is not None and match.group(1) != self.embedder.name:
            raise ConfigurationError(
                f"The knowledge base ({collection}) was built with the {match.group(1)!r} "
                f"embedding, and NEONBLUE_EMBEDDINGS selects {self.embedder.name!r}: rebuild "
                "it with this one (`neonblue projections rebuild knowledge`), or set "
                "NEONBLUE_EMBEDDINGS back to the one it was built with."
            )

    def _estimated_bytes(self, name: str) -> int:
        """Documents x (embedding floats + ~512 bytes of text and metadata), without
        loading an embedding model."""
        collection = self.client.get_collection(name, embedding_function=None)
        count = collection.count()
        if not count:
            return 0
        sample = collection.get(limit=1, include=["embeddings"])["embeddings"]
        dimension = len(sample[0]) if sample is not None and len(sample) else 0
        return count * (4 * dimension + 512)

    def _locate_live(self, projection: KnowledgeProjection) -> None:
        live = self.live_collection()
        if live != projection.collection.name:
            projection.collection = self._collection(live)
            raise GenerationChanged(f"{NAME}: now {live}")

    def search(
        self, query: str, limit: int = 5, where: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """Experiments nearest in meaning to ``query``, best first (``where`` filters metadata)."""
        return self._on_live(lambda name: self._search(name, query, limit, where))

    def similar_to(
        self, key: str, limit: int = 5, where: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """Experiments nearest to ``key``'s own document, best first, without ``key``: the
        stored vector is the query, so no embedding model is loaded (empty if ``key`` has
        no document yet)."""
        return self._on_live(lambda name: self._similar(name, key, limit, where))

    def _on_live(self, read: Callable[[str], list[SearchHit]]) -> list[SearchHit]:
        live = self.live_collection()
        try:
            return read(live)
        except Exception:
            current = self.live_collection()
            if current != live:
                # switched (and the old collection deleted) while reading: ask the live one
                return read(current)
            if not self._exists(live):
                return []  # nothing projected yet (e.g. a reader ahead of its follower)
            raise

    def _exists(self, name: str) -> bool:
        return name in {c.name for c in self.client.list_collections()}

    def _search(
        self, name: str, query: str, limit: int, where: dict[str, Any] | None
    ) -> list[SearchHit]:
        self._require_embedder(name)
        return self._nearest(name, self.embedder.embed_query(query), limit, where)

    def _similar(
        self, name: str, key: str, limit: int, where: dict[str, Any] | None
    ) -> list[SearchHit]:
        collection = self.client.get_collection(name, embedding_function=None)
        found = collection.get(ids=[key], include=["embeddings"])
        embeddings = found["embeddings"]
        if embeddings is None or not len(embeddings):
            return []
        vector = [float(x) for x in embeddings[0]]
        hits = self._nearest(name, vector, limit + 1, where)
        return [hit for hit in hits if hit.key != key][:limit]

    def _nearest(
        self, name: str, vector: Sequence[float], limit: int, where: dict[str, Any] | None
    ) -> list[SearchHit]:
        collection = self.client.get_collection(name, embedding_function=None)
        found = collection.query(
            query_embeddings=[list(vector)],  # type: ignore[list-item]
            n_results=limit,
            where=where,
            include=["metadatas", "documents", "distances"],
        )
        return [
            SearchHit(key, float(distance), dict(meta), document)
            for key, distance, meta, document in zip(
                found["ids"][0],
                found["distances"][0],
                found["metadatas"][0],
                found["documents"][0],
                strict=True,
            )
        ]

    def _set_live(self, name: str) -> None:
        self.meta.upsert(ids=[_LIVE], embeddings=[[1.0, 0.0]], metadatas=[{"collection": name}])
