"""Settings of the text embeddings used by the knowledge base."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

EmbeddingsKind = Literal["auto", "minilm", "openai", "hashing"]


class EmbeddingsSettings(BaseSettings):
    """Which embedding function turns experiment documents into vectors.

    ``auto`` picks an OpenAI-compatible endpoint when ``NEONBLUE_EMBEDDINGS_URL`` is set,
    else the local all-MiniLM-L6-v2 when the ``embeddings`` extra is installed, else the
    deterministic hashing embedding. Nothing is downloaded at run time.
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    embeddings: EmbeddingsKind = Field(
        "auto", description="auto, minilm (local model), openai (endpoint) or hashing (fallback)."
    )
    embeddings_url: str = Field(
        "", description="Base URL of an OpenAI-compatible embeddings endpoint (…/v1)."
    )
    embeddings_model: str = Field(
        "text-embedding-3-small", description="Model name sent to the embeddings endpoint."
    )
    embeddings_api_key: str = Field(
        "", description="API key for the embeddings endpoint (empty: none needed)."
    )
    embeddings_dimensions: int = Field(
        384, description="Vector size of the deterministic hashing embedding."
    )
