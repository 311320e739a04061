"""The ClickHouse and ChromaDB MCP servers through the SDK client over stdio and HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.analysis import build_scorecard
from domain.statistics import AnalysisOptions
from infrastructure.bootstrap import build_app
from infrastructure.log_statistics import variant_sums
from infrastructure.settings import EventStoreSettings
from infrastructure.simulation import PORTFOLIO
from tests.mcp_servers.conftest import http_client, http_server, stdio_client
from tests.support.injection import INJECTION_STRINGS

pytestmark = pytest.mark.anyio
KEYS = {plan.key for plan in PORTFOLIO}


def expected_card(data_dir: Path, key: str):
    app = build_app(EventStoreSettings(data_dir=data_dir, event_store=""))
    try:
        sums = variant_sums(app, key)[key]
        return build_scorecard(
            app.experiment(key), sums, AnalysisOptions(engine="frequentist"), cuped=False
        ), app.head()
    finally:
        app.close()


async def test_clickhouse_tools(store_copy):
    card, head = expected_card(store_copy, "homepage-hero-video")
    async with stdio_client("clickhouse", store_copy) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {
            "generate_analytics_insights",
            "predict_experiment_trends",
            "metric_timeseries",
            "segment_breakdown",
        }
        insights = await client.call_tool(
            "generate_analytics_insights",
            {"experiment_id": "homepage-hero-video", "engine": "frequentist", "cuped": False},
        )
        assert not insights.is_error, insights.content
        answer = insights.structured_content
        assert answer["freshness"] == {**answer["freshness"], "position": head, "lag_events": 0}
        got = {(r["metric"], r["variant"]): r for r in answer["scorecard"]["results"]}
        for row in card.rows:
            assert got[(row.metric, row.variant)]["relative_lift"] == pytest.approx(row.lift)
            assert got[(row.metric, row.variant)]["p_value"] == pytest.approx(row.p_value)
        assert "Guardrail page_load_ms (treatment): fail." in answer["findings"]
        days, coverage = answer["scorecard"]["days_observed"], answer["experiment"]["coverage"]
        kinds = {m["key"]: m["kind"] for m in answer["experiment"]["metrics"]}
        projected = [row for row in card.rows if kinds[row.metric] != "ratio"]
        assert projected
        for row in projected:
            impact = got[(row.metric, row.variant)]["projected_impact"]
            # by hand: absolute effect x all units / (traffic share x days)
            per_day = (row.variant_mean - row.control_mean) * card.total_users / (coverage * days)
            assert impact["per_day"] == pytest.approx(per_day, rel=1e-9)
            low, high = impact["per_day_ci"]
            assert low < per_day < high
            assert impact["over_planned_days"] == pytest.approx(28 * per_day, rel=1e-9)
        assert any(f.startswith("Shipping treatment at 100 % traffic") for f in answer["findings"])

        trends = await client.call_tool(
            "predict_experiment_trends", {"experiment_id": "checkout-cta-contrast", "days_ahead": 5}
        )
        assert not trends.is_error, trends.content
        t = trends.structured_content
        assert len(t["forecast"]) == 5 and all(
            lo <= f <= hi for lo, f, hi in zip(t["lower"], t["forecast"], t["upper"], strict=True)
        )
        assert 0 <= t["predictive_power"] <= 1
        final = next(p for p in reversed(t["history"]) if p["cumulative_lift"] is not None)
        overall = expected_card(store_copy, "checkout-cta-contrast")[0].primary()[0].lift
        assert final["cumulative_lift"] == pytest.approx(overall, abs=1e-9)

        series = await client.call_tool(
            "metric_timeseries", {"experiment_id": "pricing-annual-discount", "limit": 4}
        )
        assert (
            len(series.structured_content["rows"]) == 4 and series.structured_content["truncated"]
        )

        segments = await client.call_tool(
            "segment_breakdown", {"experiment_id": "free-shipping-threshold", "dimension": "device"}
        )
        rows = segments.structured_content["segments"]
        assert {r["segment"] for r in rows} == {"mobile", "desktop", "tablet"}
        users = {r["segment"]: r["users"] for r in rows}
        total = expected_card(store_copy, "free-shipping-threshold")[0].total_users
        assert sum(users.values()) == total  # every exposed user lands in exactly one segment

        tagged = await client.call_tool(
            "segment_breakdown", {"tag": "pricing", "dimension": "country"}
        )
        assert tagged.structured_content["experiments"] == [
            "free-shipping-threshold",
            "pricing-annual-discount",
        ]


BAD_INPUT = [
    ("generate_analytics_insights", {"experiment_id": "nope"}, "No experiment with key 'nope'"),
    (
        "predict_experiment_trends",
        {"experiment_id": "pricing-annual-discount", "days_ahead": 365},
        "less than or equal to 60",
    ),
    (
        "metric_timeseries",
        {"experiment_id": "pricing-annual-discount", "metric": "nope"},
        "has no metric 'nope'",
    ),
    ("segment_breakdown", {}, "Give an experiment_id, or a tag"),
    (
        "segment_breakdown",
        {"experiment_id": "pricing-annual-discount", "dimension": "age"},
        "has no segment dimension 'age'",
    ),
]


async def test_clickhouse_bad_input(store_copy):
    """Each refusal names what was wrong; one server answers them all, one after another
    (a server that failed one call still answers the next)."""
    async with stdio_client("clickhouse", store_copy) as client:
        for tool, arguments, message in BAD_INPUT:
            result = await client.call_tool(tool, arguments)
            text = result.content[0].text
            assert result.is_error and message in text, (tool, arguments, text)
            assert "Traceback" not in text, (tool, text)


async def test_clickhouse_injection(store_copy):
    fields = [
        ("generate_analytics_insights", "experiment_id", {}),
        ("metric_timeseries", "metric", {"experiment_id": "pricing-annual-discount"}),
        ("segment_breakdown", "tag", {}),
        ("segment_breakdown", "experiment_id", {}),
    ]
    async with stdio_client("clickhouse", store_copy) as client:
        for tool, field, others in fields:
            for hostile in INJECTION_STRINGS:
                result = await client.call_tool(tool, {**others, field: hostile})
                text = (
                    result.content[0].text
                    if result.is_error
                    else json.dumps(result.structured_content)
                )
                assert "Traceback" not in text and "DB::Exception" not in text
                if not result.is_error:
                    leaked = {k for k in KEYS if k in text} - {others.get("experiment_id")}
                    assert not leaked, (tool, field, hostile)


@pytest.fixture(params=["embedded", "server"])
def chroma_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The chromadb server's knowledge base: embedded (PersistentClient in the data dir) or
    the session's Chroma server (HttpClient), under a prefix of its own."""
    if request.param == "embedded":
        return {}
    server = request.getfixturevalue("chroma_server")
    request.addfinalizer(server.clear)
    return {"NEONBLUE_CHROMA_URL": server.url}


async def test_chromadb_search_and_notes(store_copy, chroma_env):
    # the first call catches the knowledge base up (one document per experiment, embedded
    # with the local model): minutes on a loaded 2-core machine
    # the local model where it is installed; against the server, the hashing embedding (what
    # is tested there is the client, and the model is loaded once, by the embedded case)
    embeddings = {"NEONBLUE_EMBEDDINGS": "hashing" if chroma_env else "auto"}
    async with stdio_client(
        "chromadb", store_copy, timeout=240, **chroma_env, **embeddings
    ) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert tools == {
            "semantic_experiment_search",
            "find_similar_experiments",
            "store_experiment_context",
        }
        found = await client.call_tool(
            "semantic_experiment_search",
            {"query": "autoplay video at the top of the home page", "n_results": 3},
        )
        assert not found.is_error, found.content
        assert found.structured_content["results"][0]["key"] == "homepage-hero-video"

        filtered = await client.call_tool(
            "semantic_experiment_search", {"query": "checkout", "filters": {"status": "stopped"}}
        )
        assert [h["key"] for h in filtered.structured_content["results"]] == ["homepage-hero-video"]

        similar = await client.call_tool(
            "find_similar_experiments", {"experiment_id": "checkout-cta-contrast", "n_results": 3}
        )
        assert not similar.is_error, similar.content
        hits = similar.structured_content["results"]
        assert len(hits) == 3 and "checkout-cta-contrast" not in {h["key"] for h in hits}
        assert [h["similarity"] for h in hits] == sorted(
            (h["similarity"] for h in hits), reverse=True
        )
        stopped = await client.call_tool(
            "find_similar_experiments",
            {"experiment_id": "checkout-cta-contrast", "filters": {"status": "stopped"}},
        )
        assert [h["key"] for h in stopped.structured_content["results"]] == ["homepage-hero-video"]
        unknown = await client.call_tool("find_similar_experiments", {"experiment_id": "nope"})
        assert unknown.is_error and "No experiment with key 'nope'" in unknown.content[0].text

        stored = await client.call_tool(
            "store_experiment_context",
            {
                "experiment_id": "mobile-onboarding-checklist",
                "notes": "Finding: a visible progress tracker made newcomers finish account setup.",
            },
        )
        assert not stored.is_error and stored.structured_content["searchable"]
        hit = await client.call_tool(
            "semantic_experiment_search",
            {"query": "progress tracker helped newcomers finish setup", "n_results": 1},
        )
        assert hit.structured_content["results"][0]["key"] == "mobile-onboarding-checklist"

        bad = await client.call_tool(
            "store_experiment_context", {"experiment_id": "nope", "notes": "x"}
        )
        assert bad.is_error and "No experiment with key 'nope'" in bad.content[0].text

    app = build_app(EventStoreSettings(data_dir=store_copy, event_store=""))
    try:
        experiment = app.experiment("mobile-onboarding-checklist")
        assert experiment.notes == [
            "Finding: a visible progress tracker made newcomers finish account setup."
        ]
        assert str(experiment.status) == "running"  # a note changes nothing else
    finally:
        app.close()
    if chroma_env:  # the documents are on the server, not in the data directory
        assert not (store_copy / "chroma").exists()


@pytest.mark.slow
async def test_chromadb_injection(store_copy):
    async with stdio_client("chromadb", store_copy) as client:
        for hostile in INJECTION_STRINGS:
            result = await client.call_tool("semantic_experiment_search", {"query": hostile})
            text = result.content[0].text if result.is_error else ""
            assert "Traceback" not in text
            if hostile.strip() and len(hostile) <= 2000:
                assert not result.is_error, (hostile, text)
            for field in ("experiment_id", "author"):
                arguments = {
                    "experiment_id": "pricing-annual-discount",
                    "notes": "n",
                    "author": "qa",
                    field: hostile,
                }
                result = await client.call_tool("store_experiment_context", arguments)
                text = result.content[0].text if result.is_error else ""
                assert "Traceback" not in text
                if field == "experiment_id":
                    assert result.is_error  # never a valid key
        for hostile in INJECTION_STRINGS[:20]:  # notes are text: stored verbatim, nothing more
            stored = await client.call_tool(
                "store_experiment_context",
                {"experiment_id": "free-shipping-threshold", "notes": hostile},
            )
            assert stored.is_error == (not hostile.strip())

    app = build_app(EventStoreSettings(data_dir=store_copy, event_store=""))
    try:
        shipping = app.experiment("free-shipping-threshold")
        expected = [h.strip() for h in INJECTION_STRINGS[:20] if h.strip()]
        assert shipping.notes == expected and str(shipping.status) == "running"
        assert shipping.variant_keys() == ["control", "t35", "t25"]
    finally:
        app.close()


async def test_read_model_servers_over_http_with_token(store_copy):
    with http_server("clickhouse", store_copy, token="t0ken-0123456789abcdef") as server:
        async with http_client(server.port, "t0ken-0123456789abcdef") as client:
            result = await client.call_tool(
                "generate_analytics_insights", {"experiment_id": "pricing-annual-discount"}
            )
    assert not result.is_error and result.structured_content["scorecard"]["total_users"] > 0
