"""The CLI's side of `neonblue serve`: the same `ReadSide` answers, over HTTP."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from infrastructure.serve.discovery import ServeAddress

if TYPE_CHECKING:
    import httpx


class ServeError(Exception):
    """An answer from serve that is an error; ``kind`` says which (domain, configuration)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def token_refused(address: ServeAddress) -> str:
    """What to do when serve wants a bearer token this process did not send right."""
    if address.token:
        return (
            f"`neonblue serve` at {address.url} refused the bearer token NEONBLUE_MCP_TOKEN "
            "sets here: set NEONBLUE_MCP_TOKEN to serve's token."
        )
    return (
        f"`neonblue serve` at {address.url} requires a bearer token and NEONBLUE_MCP_TOKEN is "
        "not set here: set NEONBLUE_MCP_TOKEN to serve's token."
    )


def check_token(address: ServeAddress) -> None:
    """Raises `ServeError` (configuration) when serve refuses this process's token; its
    /health, which found it, needs none."""
    import httpx

    headers = {"Authorization": f"Bearer {address.token}"} if address.token else {}
    answer = httpx.get(f"{address.url}/api/projections", headers=headers, timeout=30)
    if answer.status_code == 401:
        raise ServeError("configuration", token_refused(address))


class RemoteReadSide:
    """Asks a running serve; raises `ServeError` with serve's message on failure."""

    def __init__(self, address: ServeAddress, timeout: float = 300.0) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {address.token}"} if address.token else {}
        self.address = address
        self.http = httpx.Client(base_url=address.url, headers=headers, timeout=timeout)

    def _get(self, path: str, **params: Any) -> Any:
        return self._answer(self.http.get(path, params=params))

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._answer(self.http.post(path, content=json.dumps(body)))

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code == 401:  # /health needs no token: serve was found without one
            raise ServeError("configuration", token_refused(self.address))
        try:
            body = json.loads(response.text) if response.text else {}
        except ValueError:
            body = {"error": f"HTTP {response.status_code}: {response.text[:200]}"}
        if response.status_code >= 400 or not isinstance(body, (dict, list)):
            raise ServeError(body.get("kind", "error"), body.get("error", response.text))
        return body

    def results(self, experiment: str, engine: str | None, cuped: bool) -> dict[str, Any]:
        return self._get(
            "/api/results", experiment=experiment, cuped=str(cuped).lower(), **_engine(engine)
        )

    def segments(
        self, experiment: str, dimension: str | None, metric: str | None
    ) -> dict[str, Any]:
        chosen = {k: v for k, v in (("dimension", dimension), ("metric", metric)) if v}
        return self._get("/api/segments", experiment=experiment, **chosen)

    def projections(self) -> list[dict[str, Any]]:
        return self._get("/api/projections")

    def ask(
        self, question: str, conversation_id: str | None = None, engine: str | None = None
    ) -> dict[str, Any]:
        body = {"question": question}
        if conversation_id:
            body["conversation_id"] = conversation_id
        return self._post("/api/ask", body | _engine(engine))

    def recommend(self, experiment: str, engine: str | None = None) -> dict[str, Any]:
        return self._post("/api/recommend", {"experiment": experiment} | _engine(engine))

    def close(self) -> None:
        self.http.close()


def _engine(engine: str | None) -> dict[str, str]:
    """The engine parameter of a request; none when unset (serve's own setting applies)."""
    return {"engine": engine} if engine else {}
