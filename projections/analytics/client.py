"""One interface to ClickHouse, two drivers: chDB in-process and clickhouse-connect.

Both run the same SQL (``{name:Type}`` parameters are bound by the engine) and insert
column-oriented data, so the analytics read model does not know which one it talks to.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlparse

from infrastructure.settings import ClickHouseSettings, ConfigurationError

Columns = Mapping[str, Sequence[Any]]


class ClickHouseUnavailable(ConfigurationError):
    """The analytics read model cannot be opened; the message says what to do."""


class ClickHouseClient(Protocol):
    """What the analytics read model needs from ClickHouse."""

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Runs a statement that returns nothing (DDL, INSERT ... SELECT)."""

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Runs a query and returns its rows as tuples."""

    def insert(self, database: str, table: str, columns: Columns) -> None:
        """Inserts column-oriented data (equal-length lists, no None) into a table."""

    def prepare(self, database: str, table: str, columns: Columns) -> Prepared:
        """The Python-side half of `insert` (e.g. building Arrow arrays), which may run in
        another thread while this client runs a query."""

    def insert_prepared(self, prepared: Prepared) -> None:
        """The engine-side half of `insert`."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class Prepared:
    """Rows made ready for one table by `ClickHouseClient.prepare`."""

    database: str
    table: str
    names: tuple[str, ...]
    data: Any  # driver-specific: an Arrow table (chDB) or the columns (server)
    rows: int


class ChdbClient:
    """The ClickHouse engine in-process; one process at a time may open ``path``."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        with _engine_log() as engine_log:  # the engine writes to fd 2 itself: keep it
            try:
                self._session = session.Session(str(path))
                error = None
            except Exception as raised:  # chDB raises RuntimeError with the engine's message
                error = raised
        if error is not None:
            raise ClickHouseUnavailable(_unavailable(path, f"{error} {engine_log()}")) from None
        self.path = path
        self._types: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()  # one query at a time; `prepare` may run in a thread

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self._session.query(sql, "Null", params=dict(params) if params else None)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        import pyarrow as pa

        with self._lock:  # "Arrow", read here: chDB's "ArrowTable" also imports pandas (0.4 s)
            result = self._session.query(sql, "Arrow", params=dict(params) if params else None)
            if len(result) == 0:
                return []
            table = pa.RecordBatchFileReader(result.get_memview().view()).read_all()
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))

    def insert(self, database: str, table: str, columns: Columns) -> None:
        self.insert_prepared(self.prepare(database, table, columns))

    def prepare(self, database: str, table: str, columns: Columns) -> Prepared:
        import pyarrow as pa

        types = self._arrow_types(database, table)
        data = pa.table(
            {
                name: pa.array(values, type=_typed(types.get(name), values))
                for name, values in columns.items()
            }
        )
        return Prepared(database, table, tuple(columns), data, data.num_rows)

    def insert_prepared(self, prepared: Prepared) -> None:
        if not prepared.rows:
            return
        data = prepared.data  # noqa: F841 - read by the SQL's Python() table function
        names = ", ".join(prepared.names)
        with self._lock:
            self._session.query(
                f"INSERT INTO {prepared.database}.{prepared.table} ({names}) "
                f"SELECT {names} FROM Python(data)",
                "Null",
            )

    def _arrow_types(self, database: str, table: str) -> dict[str, Any]:
        key = (database, table)
        if key not in self._types:
            rows = self.rows(
                "SELECT name, type FROM system.columns WHERE database = {d:String} "
                "AND table = {t:String}",
                {"d": database, "t": table},
            )
            self._types[key] = {name: _arrow_type(kind) for name, kind in rows}
        return self._types[key]

    def close(self) -> None:
        self._session.close()


class ClickHouseConnectClient:
    """A ClickHouse server through clickhouse-connect (HTTP)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @classmethod
    def connect(cls, url: str, timeout: int = 30) -> ClickHouseConnectClient:
        import clickhouse_connect

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https"):
            raise ConfigurationError(
                f"NEONBLUE_CLICKHOUSE_URL={url!r} must be http(s)://user:password@host:port"
            )
        try:
            client = clickhouse_connect.get_client(
                dsn=url, connect_timeout=timeout, send_receive_timeout=timeout
            )
        except Exception as error:
            raise ClickHouseUnavailable(
                f"Cannot reach ClickHouse at {parsed.hostname}:{parsed.port}: {error}"
            ) from None
        return cls(client)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._client.command(sql, parameters=dict(params) if params else None)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        result = self._client.query(sql, parameters=dict(params) if params else None)
        return [tuple(row) for row in result.result_rows]

    def insert(self, database: str, table: str, columns: Columns) -> None:
        self.insert_prepared(self.prepare(database, table, columns))

    def prepare(self, database: str, table: str, columns: Columns) -> Prepared:
        data = [list(values) for values in columns.values()]
        return Prepared(database, table, tuple(columns), data, len(data[0]) if data else 0)

    def insert_prepared(self, prepared: Prepared) -> None:
        if not prepared.rows:
            return
        self._client.insert(
            prepared.table,
            prepared.data,
            column_names=list(prepared.names),
            database=prepared.database,
            column_oriented=True,
        )

    def close(self) -> None:
        self._client.close()


def _arrow_type(clickhouse_type: str) -> Any:
    import pyarrow as pa

    if clickhouse_type.startswith("Array(") and clickhouse_type.endswith(")"):
        return pa.list_(_arrow_type(clickhouse_type[6:-1]))
    simple = {
        "String": pa.string(),
        "Float64": pa.float64(),
        "Int64": pa.int64(),
        "UInt64": pa.uint64(),
        "UInt32": pa.uint32(),
        "UInt8": pa.uint8(),
    }
    return simple.get(clickhouse_type)


def _typed(arrow_type: Any, values: Sequence[Any]) -> Any:
    """Bytes for a String column go in as binary: converting them to Arrow strings (UTF-8
    checks per value) costs ten times more, and ClickHouse takes either."""
    import pyarrow as pa

    if arrow_type == pa.string() and values and isinstance(values[0], bytes):
        return pa.binary()
    return arrow_type


@contextmanager
def _engine_log() -> Iterator[Callable[[], str]]:
    """Captures what the engine writes to the process's stderr (file descriptor 2) while
    it opens, so that no raw engine log line reaches the person at the terminal; yields a
    function that returns it (once the block has ended)."""
    import tempfile

    text: list[str] = []
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            yield lambda: "".join(text)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            text.append(_read(captured))


def _read(captured: IO[bytes]) -> str:
    captured.seek(0)
    return captured.read().decode(errors="replace")


def _unavailable(path: Path, engine_says: str) -> str:
    """What to do when chDB cannot open (the engine's own text only when it is not the
    usual: another process holds the directory)."""
    advice = (
        "Run `neonblue serve` (every command then goes through it), stop the other process "
        "(e.g. `neonblue projections run` or `rebuild`), or set NEONBLUE_CLICKHOUSE_URL to a "
        "ClickHouse server."
    )
    if "Cannot lock file" in engine_says or "already running" in engine_says:
        return (
            f"The embedded ClickHouse (chDB) at {path} is in use by another process "
            f"(one process at a time can open it). {advice}"
        )
    reason = " ".join(
        line.split("DB::Exception: ", 1)[-1].strip()
        for line in engine_says.splitlines()
        if line.strip()
    )[:300]
    return f"Cannot open the embedded ClickHouse (chDB) at {path}: {reason}. {advice}"


def connect_clickhouse(settings: ClickHouseSettings) -> ClickHouseClient:
    """The driver the settings ask for: a server when a URL is set, else chDB."""
    if settings.embedded:
        return ChdbClient(settings.chdb_path)
    return ClickHouseConnectClient.connect(
        settings.clickhouse_url, settings.clickhouse_query_timeout
    )
