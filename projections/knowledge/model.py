"""The knowledge base as a whole: Chroma client, live collection, rebuild, search."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from infrastructure.application import NeonBlue
from infrastructure.embeddings import Embedder
from infrastructure.settings import ChromaSettings, ConfigurationError
from projections.knowledge.projection import NAME, KnowledgeProjection, ResultsSource

_LIVE = "live"


@dataclass(frozen=True)
class SearchHit:
    key: str
    distance: float
    metadata: dict[str, Any]
    document: str


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
        name = collection or self.live_collection()
        return KnowledgeProjection(
            self.app, self._collection(name), self.meta, self.embedder, self.results
        )

    def fresh_copy(self) -> KnowledgeProjection:
        generation = int(self.live_collection().rsplit("_", 1)[-1]) + 1
        name = f"{self.prefix}_{self.embedder.name}_{generation}"
        if name in {c.name for c in self.client.list_collections()}:
            self.client.delete_collection(name)
        self.meta.delete(ids=[f"position:{name}"])
        return self.projection(name)

    def switch(self, projection: KnowledgeProjection) -> str:
        old = self.live_collection()
        self._set_live(projection.collection.name)
        if old != projection.collection.name:
            self.client.delete_collection(old)
            self.meta.delete(ids=[f"position:{old}"])
        return old

    def search(
        self, query: str, limit: int = 5, where: dict[str, Any] | None = None
    ) -> list[SearchHit]:
        """Experiments nearest in meaning to ``query``, best first (``where`` filters metadata)."""
        collection = self._collection(self.live_collection())
        found = collection.query(
            query_embeddings=[self.embedder.embed_query(query)],
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
