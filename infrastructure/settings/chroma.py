"""Settings of the Chroma experiment knowledge base."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.paths import AbsolutePath


class ChromaSettings(BaseSettings):
    """Where the experiment knowledge base lives.

    With ``NEONBLUE_CHROMA_URL`` unset, an embedded Chroma ``PersistentClient`` under
    ``NEONBLUE_CHROMA_PATH`` (default ``<data dir>/chroma``); otherwise the
    ``http://host:port`` of a Chroma server (``HttpClient``).
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    data_dir: AbsolutePath = Field(
        Path(".neonblue"), validate_default=True, description="Directory for embedded stores."
    )
    chroma_url: str = Field(
        "", description="Chroma server URL (http://host:port); empty: embedded."
    )
    chroma_path: AbsolutePath | None = Field(
        None, description="Embedded Chroma directory; default <data_dir>/chroma."
    )
    chroma_collection: str = Field(
        "experiments", description="Prefix of the collection holding one document per experiment."
    )

    @property
    def embedded(self) -> bool:
        return not self.chroma_url.strip()

    @property
    def persist_path(self) -> Path:
        return self.chroma_path or self.data_dir / "chroma"
