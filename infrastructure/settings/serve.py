"""Settings of `neonblue serve`, the long-running home of the read side."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServeSettings(BaseSettings):
    """Where `neonblue serve` listens, and where other commands look for it.

    Commands find a running `serve` through ``NEONBLUE_SERVE_URL`` or, when unset, the
    ``serve.json`` it writes in the data directory; the bearer token is ``NEONBLUE_MCP_TOKEN``
    (the same rules as the MCP HTTP transport).
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_SERVE_", extra="ignore")

    url: str = Field("", description="URL of a running serve to use (empty: discover).")
    host: str = Field("127.0.0.1", description="Bind address; non-loopback needs a token.")
    port: int = Field(8765, ge=0, le=65535, description="HTTP port.")
    poll_seconds: float = Field(0.2, description="How often idle projections poll the log.")
    batch_size: int = Field(50_000, ge=1, description="Events per projection batch.")
    discover: bool = Field(True, description="Commands use a running serve when one is found.")
    draw_ahead: bool = Field(
        True,
        description="Draw every experiment page's charts in the background once serve is"
        " ready (lowest priority), so any page's first opening is fast.",
    )
