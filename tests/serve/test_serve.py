"""`neonblue serve` as a user runs it: every MCP mount over HTTP, /health, /metrics, the
token, the stdio relay, and a clean stop on SIGTERM."""

from __future__ import annotations

import json
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from infrastructure.bootstrap import SERVER_NAMES
from infrastructure.log_statistics import variant_sums
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO
from tests.serve.conftest import TOKEN, env_for, neonblue, running_serve

PORTFOLIO_KEYS = [plan.key for plan in PORTFOLIO]
EXPECTED_TOOLS = {
    "postgresql": {
        "list_experiments",
        "analyze_experiment_data",
        "predict_user_assignment",
        "experiment_history",
        "list_unclassified_event_types",
    },
    "clickhouse": {
        "generate_analytics_insights",
        "predict_experiment_trends",
        "metric_timeseries",
        "segment_breakdown",
    },
    "chromadb": {
        "semantic_experiment_search",
        "find_similar_experiments",
        "store_experiment_context",
    },
    "experiment_intelligence": {
        "recommend_experiment_optimization",
        "natural_language_analytics",
    },
}


@asynccontextmanager
async def http_client(url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120) as client,
    ):
        yield client


def reference_users(data_dir: Path, key: str) -> dict[str, int]:
    from infrastructure.bootstrap import build_app

    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    try:
        return {v: s.users for v, s in variant_sums(app, key).get(key, {}).items()}
    finally:
        app.close()


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_mount_health_metrics_relay_and_clean_stop(store_copy: Path, tmp_path: Path):
    key = PORTFOLIO_KEYS[0]
    expected_users = reference_users(store_copy, key)
    elsewhere = tmp_path / "elsewhere"  # not the repository: paths must not depend on cwd
    elsewhere.mkdir()
    env = env_for(store_copy, NEONBLUE_MCP_TOKEN=TOKEN)
    with running_serve(env, elsewhere) as serve:
        health = serve.wait_caught_up()
        assert health["store"] == f"sqlite:{store_copy / 'events.db'}"
        assert {p["name"] for p in health["projections"]} == {
            "analytics",
            "relational",
            "knowledge",
        }
        assert json.loads((store_copy / "serve.json").read_text())["url"] == serve.url
        deadline = time.monotonic() + 60  # the agent flows load after serve is ready
        while health["agents"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.2)
            health = httpx.get(f"{serve.url}/health", timeout=5).json()
        assert health["agents"] == "ready"

        # the token is required on every path but /health
        refused = httpx.post(f"{serve.url}/mcp/postgresql", json={}, timeout=5)
        assert refused.status_code == 401
        assert httpx.get(f"{serve.url}/metrics", timeout=5).status_code == 401
        not_a_message = httpx.post(  # one short line, as `mcp serve` and stdio answer it
            f"{serve.url}/mcp/postgresql",
            json={"a": 1},
            headers={
                "Authorization": f"Bearer {TOKEN}",
                "Accept": "application/json, text/event-stream",
            },
            timeout=5,
        )
        assert not_a_message.status_code == 400
        assert not_a_message.json()["error"]["code"] == -32600
        assert len(not_a_message.text) < 300

        answers = {}
        for name in SERVER_NAMES:
            async with http_client(f"{serve.url}/mcp/{name}", TOKEN) as client:
                tools = {tool.name for tool in (await client.list_tools()).tools}
                assert tools == EXPECTED_TOOLS[name]
                call = {
                    "postgresql": ("analyze_experiment_data", {"experiment_id": key}),
                    "clickhouse": ("generate_analytics_insights", {"experiment_id": key}),
                    "chromadb": ("semantic_experiment_search", {"query": "checkout button"}),
                    "experiment_intelligence": (
                        "natural_language_analytics",
                        {"question": f"How is {key} doing?"},
                    ),
                }[name]
                result = await client.call_tool(*call)
                assert not result.is_error, result.content
                answers[name] = result.structured_content
        # each read model answers from its own position, which is the head after catch-up
        head = health["head"]
        assert answers["postgresql"]["assignments"] == expected_users
        assert answers["postgresql"]["freshness"]["source"] == "relational"
        assert answers["postgresql"]["freshness"]["position"] == head
        scorecard = answers["clickhouse"]["scorecard"]
        assert scorecard["srm"]["observed"] == expected_users
        assert answers["clickhouse"]["freshness"]["lag_events"] == 0
        assert answers["chromadb"]["results"], answers["chromadb"]
        async with http_client(f"{serve.url}/mcp/chromadb", TOKEN) as client:
            note = "Tried on Android first: the contrast change confused colour-blind users."
            stored = await client.call_tool(
                "store_experiment_context", {"experiment_id": key, "notes": note}
            )
            assert stored.structured_content["searchable"] is True  # the follower caught up
            found = await client.call_tool(
                "semantic_experiment_search", {"query": "colour-blind users", "n_results": 1}
            )
            assert found.structured_content["results"][0]["key"] == key
        assert key in answers["experiment_intelligence"]["answer"]
        assert {s["server"] for s in answers["experiment_intelligence"]["sources"]} >= {
            "postgresql"
        }

        head = serve.wait_caught_up()["head"]  # the note is one more event
        metrics = httpx.get(
            f"{serve.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        ).text
        # counted: the call over HTTP and the agent's own call to the same server in-process
        assert (
            'neonblue_mcp_tool_calls_total{outcome="ok",server="postgresql",'
            'tool="analyze_experiment_data"} 2.0' in metrics
        )
        assert 'neonblue_mcp_tool_seconds_count{server="clickhouse"' in metrics
        assert f'neonblue_projection_position{{projection="relational"}} {float(head)}' in metrics
        assert 'neonblue_projection_lag_events{projection="analytics"} 0.0' in metrics

        # a desktop client's stdio server relays to the running serve (opens no store)
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "infrastructure.cli", "mcp", "serve", "postgresql"],
            env=env,
            cwd=str(elsewhere),
        )
        async with Client(params, read_timeout_seconds=60) as client:
            listed = await client.call_tool("list_experiments", {"limit": 10})
        assert not listed.is_error
        assert {e["key"] for e in listed.structured_content["experiments"]} == set(PORTFOLIO_KEYS)
        metrics = httpx.get(
            f"{serve.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5
        ).text
        assert 'server="postgresql",tool="list_experiments"} 2.0' in metrics  # through serve

        # hostile or wrong input to the CLI's API: one-line errors, and serve stays up
        auth = {"Authorization": f"Bearer {TOKEN}"}
        bad = [
            ("post", "/api/ask", b"not json"),
            ("post", "/api/ask", b'{"question": ""}'),
            ("post", "/api/ask", json.dumps({"question": "x" * 3000}).encode()),
            ("post", "/api/ask", b'{"question": "' + b"y" * 200_000 + b'"}'),
            ("post", "/api/recommend", b'{"experiment": ["a"]}'),
            ("get", "/api/results?engine=frequentist", None),
            ("get", f"/api/results?experiment={key}&engine=magic", None),
        ]
        for method, path, body in bad:
            answer = httpx.request(method, f"{serve.url}{path}", content=body, headers=auth)
            assert answer.status_code == 400, (path, answer.text)
            assert answer.json()["kind"] == "configuration", answer.text
        unknown = httpx.get(f"{serve.url}/api/results?experiment=nope", headers=auth)
        assert unknown.status_code == 422 and "No experiment with key 'nope'" in unknown.text
        assert serve.health()["status"] == "ok"

        code, output = await anyio.to_thread.run_sync(serve.stop)
    assert code == 0, output
    assert "Stopped" in output
    assert not (store_copy / "serve.json").exists()
    assert "Traceback" not in output


def test_refuses_to_serve_beyond_loopback_without_a_token(store_copy: Path, tmp_path: Path):
    done = neonblue(env_for(store_copy), "serve", "--host", "0.0.0.0", "--port", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "without a token" in done.stderr
    assert "Serving" not in done.stdout + done.stderr


def test_health_says_503_with_the_error_when_a_position_cannot_be_read():
    """The follower's positions failing (as a stored NaN once made the relational model do)
    is a 503 naming the error and the store, not a bare 500: commands find serve by it."""
    from types import SimpleNamespace

    from infrastructure.serve.app import ServeApp

    def statuses() -> list:
        raise ValueError("the relational model cannot read its position\nsecond line")

    app = SimpleNamespace(
        follower=SimpleNamespace(statuses=statuses),
        services=SimpleNamespace(event_store=SimpleNamespace(identity="sqlite:/x/events.db")),
    )
    response = anyio.run(ServeApp.health, app, None)
    assert response.status_code == 503
    assert json.loads(response.body) == {
        "status": "error",
        "store": "sqlite:/x/events.db",
        "error": "ValueError: the relational model cannot read its position",
    }
