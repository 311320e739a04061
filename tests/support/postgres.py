"""A throwaway PostgreSQL 15 cluster for tests: initdb + pg_ctl on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def find_pg_bin() -> Path | None:
    override = os.environ.get("NEONBLUE_PG_BIN")
    for candidate in ([override] if override else []) + list(PG_BIN_CANDIDATES):
        if candidate and (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PostgresCluster:
    host: str
    port: int
    user: str
    data_dir: Path | None = None  # set by running_cluster(), for stop() / start()
    bin_dir: Path | None = None
    start_command: tuple[str, ...] = ()

    def url(self, dbname: str = "postgres", schema: str | None = None) -> str:
        suffix = f"?schema={schema}" if schema else ""
        return f"postgresql://{self.user}:@{self.host}:{self.port}/{dbname}{suffix}"

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database with a unique name (cheaper than teardown)."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        """Stops the server (fast shutdown: open connections are terminated)."""
        assert self.data_dir and self.bin_dir, "only clusters from running_cluster() can stop"
        pg_ctl = str(self.bin_dir / "pg_ctl")
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        """Starts a stopped server again on the same port and data."""
        subprocess.run(list(self.start_command), check=True, capture_output=True)


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise RuntimeError(
            "PostgreSQL server binaries not found; install postgresql-15 (bash .ci/run does) "
            "or set NEONBLUE_PG_BIN."
        )
    base = Path(tempfile.mkdtemp(prefix="neonblue-pg-"))
    data, sock = base / "data", base / "sock"
    data.mkdir()
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        for path in (data, sock):
            shutil.chown(path, "postgres", "postgres")
    port = free_port()
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run(
        _as_postgres(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        ),
        **run,
    )
    options = (
        f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    start_command = _as_postgres(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(base / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
            "-o",
            options,
        ]
    )
    subprocess.run(start_command, **run)
    try:
        yield PostgresCluster("127.0.0.1", port, "postgres", data, bin_dir, tuple(start_command))
    finally:
        subprocess.run(
            _as_postgres(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
            ),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
