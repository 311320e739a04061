"""Settings of the event store."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infrastructure.settings.errors import ConfigurationError
from infrastructure.settings.paths import AbsolutePath, absolute


class EventStoreSettings(BaseSettings):
    """Where events are stored.

    ``NEONBLUE_EVENT_STORE`` is one of:
    - unset: a SQLite file ``events.db`` under ``NEONBLUE_DATA_DIR`` (the embedded default);
    - ``sqlite:///relative/events.db`` or ``sqlite:////absolute/events.db``;
    - ``postgresql://user:password@host:port/dbname[?schema=name]`` (psycopg 3);
    - ``memory:`` (tests and throwaway runs).
    """

    model_config = SettingsConfigDict(env_prefix="NEONBLUE_", extra="ignore")

    data_dir: AbsolutePath = Field(
        Path(".neonblue"), validate_default=True, description="Directory for embedded stores."
    )
    event_store: str = Field("", description="Event store URL; empty means SQLite in data_dir.")
    postgres_pool_size: int = Field(5, description="Connections kept open to Postgres.")
    postgres_connect_timeout: int = Field(10, description="Seconds to wait for Postgres.")

    def eventsourcing_env(self) -> dict[str, str]:
        """The `eventsourcing` library's environment for this store."""
        url = self.event_store.strip()
        if not url or url.startswith("sqlite:///"):
            # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute.db
            path = (
                absolute(Path(url.removeprefix("sqlite:///")))
                if url
                else self.data_dir / "events.db"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
        if url.startswith("memory:"):
            return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
        if url.startswith(("postgresql://", "postgres://")):
            parsed = urlparse(url)
            query = parse_qs(parsed.query)
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
                "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parsed.port or 5432),
                "POSTGRES_USER": unquote(parsed.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parsed.password or ""),
                "POSTGRES_POOL_SIZE": str(self.postgres_pool_size),
                "POSTGRES_CONNECT_TIMEOUT": str(self.postgres_connect_timeout),
            }
            if "schema" in query:
                env["POSTGRES_SCHEMA"] = query["schema"][0]
            return env
        raise ConfigurationError(
            f"NEONBLUE_EVENT_STORE={url!r} is not understood; use sqlite:///path, "
            "postgresql://user:password@host:port/db or memory:"
        )

    @property
    def identity(self) -> str:
        """Which store this is, without secrets (a running serve must serve the same one)."""
        env = self.eventsourcing_env()
        if "SQLITE_DBNAME" in env:
            return f"sqlite:{env['SQLITE_DBNAME']}"
        if "POSTGRES_HOST" in env:
            schema = env.get("POSTGRES_SCHEMA", "")
            return (
                f"postgresql:{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/"
                f"{env['POSTGRES_DBNAME']}{'/' + schema if schema else ''}"
            )
        return f"memory:{self.data_dir}"

    @property
    def kind(self) -> str:
        module = self.eventsourcing_env()["PERSISTENCE_MODULE"]
        return {"eventsourcing.sqlite": "sqlite", "eventsourcing.popo": "memory"}.get(
            module, "postgresql"
        )
