"""Settings of the MCP servers: their HTTP transport and answer limits."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class McpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NEONBLUE_MCP_", extra="ignore")

    host: str = Field("127.0.0.1", description="HTTP bind address; non-loopback needs a token.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port.")
    token: str | None = Field(None, description="Bearer token required on HTTP when set.")
    max_rows: int = Field(1000, description="Row cap for any tool answer.")
    query_timeout_seconds: float = Field(10.0, description="Per-query timeout.")
    catch_up: bool = Field(
        True, description="Bring read models up to the log head before answering (embedded)."
    )
    answer_cache_seconds: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="Reuse a read-only tool's answer while the log and its read model have not "
        "moved, for at most this long (answers that depend on the clock); 0 turns it off.",
    )
