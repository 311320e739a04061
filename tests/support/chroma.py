"""A throwaway Chroma server for tests: `chroma run` (the CLI of the installed chromadb
package) on loopback with a temporary directory, telemetry off."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.postgres import free_port


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self) -> Any:
        import chromadb

        return chromadb.HttpClient(host=self.host, port=self.port)

    def clear(self) -> None:
        """Deletes every collection (tests share one server)."""
        client = self.client()
        for collection in client.list_collections():
            client.delete_collection(collection.name)


@contextmanager
def running_chroma_server(timeout: float = 30.0) -> Iterator[ChromaServer]:
    executable = shutil.which("chroma")
    if executable is None:
        raise RuntimeError("the `chroma` CLI is missing; it ships with the chromadb package")
    port = free_port()
    path = tempfile.mkdtemp(prefix="neonblue-chroma-")
    log = tempfile.NamedTemporaryFile(prefix="neonblue-chroma-", suffix=".log", delete=False)  # noqa: SIM115 - outlives this block
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "NO_COLOR": "1"}
    process = subprocess.Popen(
        [executable, "run", "--host", "127.0.0.1", "--port", str(port), "--path", path],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    server = ChromaServer("127.0.0.1", port)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"chroma exited with {process.returncode}; see {log.name}")
            try:
                if httpx.get(f"{server.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chroma did not answer within {timeout}s; see {log.name}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(path, ignore_errors=True)
