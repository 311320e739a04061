"""Settings of the ClickHouse analytics read model (chDB embedded, or a server)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.paths import AbsolutePath


class ClickHouseSettings(BaseSettings):
    """Where the analytics read model lives.

    With ``NEONBLUE_CLICKHOUSE_URL`` unset, chDB (the ClickHouse engine in-process) keeps
    it under ``NEONBLUE_CLICKHOUSE_PATH`` (default ``<data dir>/chdb``); only one process
    can open that directory at a time. Otherwise ``http://user:password@host:8123`` of a
    ClickHouse server, through clickhouse-connect. The SQL is the same for both.
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    data_dir: AbsolutePath = Field(
        Path(".neonblue"), validate_default=True, description="Directory for embedded stores."
    )
    clickhouse_url: str = Field(
        "", description="ClickHouse server URL (http[s]://user:pw@host:port); empty: chDB."
    )
    clickhouse_path: AbsolutePath | None = Field(
        None, description="chDB data directory; default <data_dir>/chdb."
    )
    clickhouse_database: str = Field(
        "neonblue", description="Prefix of the databases holding the analytics read model."
    )
    clickhouse_query_timeout: int = Field(
        30, description="Seconds before a query to a ClickHouse server is abandoned."
    )

    @property
    def embedded(self) -> bool:
        return not self.clickhouse_url.strip()

    @property
    def chdb_path(self) -> Path:
        return self.clickhouse_path or self.data_dir / "chdb"
