"""The PostgreSQL MCP server through the SDK's own client over stdio and HTTP."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from domain import bucketing
from domain.analysis import build_scorecard
from infrastructure.bootstrap import bootstrap
from infrastructure.log_statistics import variant_sums
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO
from tests.mcp_servers.conftest import http_client, http_server, server_env, stdio_client
from tests.support.injection import INJECTION_STRINGS

pytestmark = [pytest.mark.anyio, pytest.mark.xdist_group("test_postgresql_server")]
TOOLS = {
    "list_experiments",
    "analyze_experiment_data",
    "predict_user_assignment",
    "experiment_history",
    "list_unclassified_event_types",
}
KEYS = {plan.key for plan in PORTFOLIO}


@pytest.fixture(scope="module")
def expected(portfolio_dir):
    """Answers computed in-process, independently of the server."""
    with bootstrap(EventStoreSettings(data_dir=portfolio_dir, event_store="")) as services:
        app = services.app
        sums = variant_sums(app)
        cards = {key: build_scorecard(app.experiment(key), sums[key]) for key in KEYS}
        # ingest keeps users under their pseudonym, and buckets on it
        return cards, app.head(), services.subject_of("u-7")


async def test_tools_over_stdio(portfolio_dir, expected):
    cards, head, subject = expected
    async with stdio_client("postgresql", portfolio_dir) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS

        result = await client.call_tool(
            "analyze_experiment_data",
            {"experiment_id": "mobile-onboarding-checklist", "engine": "frequentist"},
        )
        assert not result.is_error, result.content
        answer = result.structured_content
        card = cards["mobile-onboarding-checklist"]
        assert answer["assignments"] == card.users
        (row,) = answer["scorecard"]["results"]
        assert row["relative_lift"] == pytest.approx(card.rows[0].lift)
        assert row["p_value"] == pytest.approx(card.rows[0].p_value)
        users, days = sum(card.users.values()), answer["scorecard"]["days_observed"]
        effect = card.rows[0].variant_mean - card.rows[0].control_mean
        share = answer["experiment"]["coverage"]
        assert row["projected_impact"]["per_day"] == pytest.approx(effect * users / share / days)
        assert answer["freshness"]["head"] == head and answer["freshness"]["lag_events"] == 0

        guard = await client.call_tool(
            "analyze_experiment_data", {"experiment_id": "homepage-hero-video"}
        )
        assert guard.structured_content["scorecard"]["engine"] == "sequential"  # the default
        statuses = {
            r["metric"]: r["guardrail_status"]
            for r in guard.structured_content["scorecard"]["results"]
        }
        assert statuses["page_load_ms"] == "fail"

        listed = await client.call_tool(
            "list_experiments", {"status": "running", "tag": "checkout"}
        )
        assert [e["key"] for e in listed.structured_content["experiments"]] == [
            "checkout-cta-contrast",
            "free-shipping-threshold",
        ]

        who = await client.call_tool(
            "predict_user_assignment", {"experiment_id": "checkout-cta-contrast", "user_id": "u-7"}
        )
        assert subject.startswith("s-")
        n = bucketing.hash("checkout-cta-contrast", subject, 2)
        assert who.structured_content["hash_value"] == n
        assert who.structured_content["variant"] == ("control" if n < 0.5 else "treatment")
        assert who.structured_content["recorded_variant"] is None

        history = await client.call_tool(
            "experiment_history", {"experiment_id": "homepage-hero-video"}
        )
        events = [e["event"] for e in history.structured_content["events"]]
        assert events == ["Experiment.Created", "Experiment.Started", "Experiment.Stopped"]
        assert history.structured_content["state"]["status"] == "stopped"

        before_stop = await client.call_tool(
            "experiment_history",
            {"experiment_id": "homepage-hero-video", "as_of": "2026-09-02T00:00:00Z"},
        )
        # recorded_at is the wall clock of the recording: the whole history is 'now', so an
        # as_of in the simulated past shows nothing yet
        assert before_stop.structured_content["events"] == []


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        (
            "analyze_experiment_data",
            {"experiment_id": "no-such"},
            "No experiment with key 'no-such'",
        ),
        ("analyze_experiment_data", {"experiment_id": "bad key!"}, "should match pattern"),
        ("list_experiments", {"limit": 0}, "greater than or equal to 1"),
        ("list_experiments", {"status": "exploding"}, "Input should be"),
        (
            "predict_user_assignment",
            {"experiment_id": "checkout-cta-contrast", "user_id": ""},
            "at least 1 character",
        ),
        ("experiment_history", {"experiment_id": "x", "as_of": "yesterday"}, "datetime"),
    ],
)
async def test_bad_input_gives_clear_errors(portfolio_dir, tool, arguments, message):
    async with stdio_client("postgresql", portfolio_dir) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text
    assert message in text and "Traceback" not in text


async def test_injection_strings_have_no_effect_and_leak_nothing(portfolio_dir, expected):
    _, head, _ = expected
    string_fields = [
        ("analyze_experiment_data", "experiment_id", {}),
        ("experiment_history", "experiment_id", {}),
        ("predict_user_assignment", "experiment_id", {"user_id": "u-1"}),
        ("predict_user_assignment", "user_id", {"experiment_id": "pricing-annual-discount"}),
        ("list_experiments", "tag", {}),
        ("list_experiments", "owner", {}),
    ]
    async with stdio_client("postgresql", portfolio_dir) as client:
        for tool, field, others in string_fields:
            for hostile in INJECTION_STRINGS:
                result = await client.call_tool(tool, {**others, field: hostile})
                text = (
                    json.dumps(result.structured_content)
                    if not result.is_error
                    else (result.content[0].text)
                )
                assert "Traceback" not in text
                if result.is_error:
                    continue
                leaked = {k for k in KEYS if k in text} - {others.get("experiment_id")}
                assert not leaked, (tool, field, hostile, leaked)
                if tool == "list_experiments":
                    assert result.structured_content["total"] == 0
        check = await client.call_tool("list_experiments", {})
        assert check.structured_content["freshness"]["head"] == head  # nothing was written


async def test_http_requires_the_token(portfolio_dir):
    with http_server("postgresql", portfolio_dir, token="s3cret-token-0123456789") as server:
        base = f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{base}/health").json()["status"] == "ok"
        assert httpx.post(f"{base}/mcp", json={}).status_code == 401
        wrong = httpx.post(f"{base}/mcp", json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        # JSON that is no JSON-RPC message: -32600 in one line, as over stdio (the SDK sent
        # -32602 and pydantic's report on every kind of message, quoting the body)
        headers = {
            "Authorization": "Bearer s3cret-token-0123456789",
            "Accept": "application/json, text/event-stream",
        }
        for body, request_id in (
            ([1, 2], None),
            ({"a": 1}, None),
            ({"jsonrpc": "2.0", "id": 7, "method": 5}, 7),
        ):
            answer = httpx.post(f"{base}/mcp", json=body, headers=headers)
            assert answer.status_code == 400
            error = answer.json()
            assert error["id"] == request_id and error["error"]["code"] == -32600, error
            message = error["error"]["message"]
            assert message.startswith("Invalid request: not a JSON-RPC 2.0 message (")
            assert len(message) < 200 and "\n" not in message and "input_value" not in message
        async with http_client(server.port, "s3cret-token-0123456789") as client:
            result = await client.call_tool("list_experiments", {"tag": "pricing"})
            assert not result.is_error
            keys = [e["key"] for e in result.structured_content["experiments"]]
            assert keys == ["pricing-annual-discount", "free-shipping-threshold"]


async def test_http_without_token_serves_loopback(portfolio_dir):
    with http_server("postgresql", portfolio_dir) as server:
        async with http_client(server.port, None) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
    assert tools == TOOLS


def test_http_refuses_non_loopback_without_token(portfolio_dir):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "infrastructure.cli",
            "mcp",
            "serve",
            "postgresql",
            "--transport",
            "http",
            "--host",
            "0.0.0.0",
        ],
        env=server_env(portfolio_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "NEONBLUE_MCP_TOKEN" in result.stderr and "Traceback" not in result.stderr


def test_unknown_server_name(portfolio_dir):
    result = subprocess.run(
        [sys.executable, "-m", "infrastructure.cli", "mcp", "serve", "mongodb"],
        env=server_env(portfolio_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "No MCP server named 'mongodb'" in result.stderr


async def test_experiment_resource_and_review_prompt(portfolio_dir):
    async with stdio_client("postgresql", portfolio_dir) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["experiment://{key}"]
        document = await client.read_resource("experiment://pricing-annual-discount")
        data = json.loads(document.contents[0].text)
        assert data["key"] == "pricing-annual-discount" and data["status"] == "running"
        prompt = await client.get_prompt("review_experiment", {"experiment_id": "x-1"})
        assert "analyze_experiment_data" in prompt.messages[0].content.text
        with pytest.raises(Exception, match="No experiment with key 'nope'"):
            await client.read_resource("experiment://nope")
