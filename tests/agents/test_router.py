"""The router: requests go where they belong; unknown event types get rules a person approves,
and ingest then classifies them on the fast path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from agents.common.toolbox import McpToolbox
from agents.router.runner import route_with
from domain.ingestion.rules import RuleError, suggest_rule
from domain.participation.aggregate import Participation
from infrastructure.bootstrap import bootstrap
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.triage_replay import replay_triaged
from infrastructure.settings import EventStoreSettings
from infrastructure.triage import decide_rule, rules
from tests.support.privacy import Opener
from tests.support.stores import copy_store

EXPERIMENT = "checkout-cta-contrast"
USERS = [f"che-user-{i:06d}" for i in range(1, 6)]  # exposed users of the portfolio


def wire(event_id: str, user: str, event_type: str, **fields) -> bytes:
    return json.dumps(
        {
            "schema_version": 2,
            "event_id": event_id,
            "user_id": user,
            "experiment_id": EXPERIMENT,
            "event_type": event_type,
            "timestamp": datetime.now(UTC).isoformat(),
            **fields,
        }
    ).encode()


def ingest(app, bus: InProcessBus, events: list[tuple[bytes, str]]):
    """Publishes on the same bus each time (offsets continue, as on a real topic)."""
    producer = bus.producer()
    for value, user in events:
        producer.produce("user_events", value, user.encode())
    producer.flush()
    return ingest_in_process(app, bus)


@pytest.fixture
def store(portfolio_dir: Path, tmp_path: Path) -> EventStoreSettings:
    copy_store(portfolio_dir, tmp_path)
    return EventStoreSettings(data_dir=tmp_path, event_store="")


def test_suggestions_are_explainable():
    assert suggest_rule("order_completed", [{}]).metric == "conversion"
    assert suggest_rule("purchase_made", [{"value": 12.5}]).metric == "revenue"
    assert suggest_rule("scroll_depth", [{"value": 40.0}]).metric == "scroll_depth"
    assert suggest_rule("banner_shown", [{"variant": "b"}]).action == "exposure"
    assert suggest_rule("heartbeat", [{}]).action is None


def test_unknown_type_rule_learned_approved_and_applied(store):
    bus = InProcessBus()
    with bootstrap(store) as services:
        first = [(wire(f"oc-{u}", u, "order_completed"), u) for u in USERS[:3]]
        first += [(wire(f"hb-{u}", u, "heartbeat"), u) for u in USERS[:2]]
        stats = ingest(services.app, bus, first)
        assert stats.unclassified == 5 and stats.dead_lettered == 0

        async def triage():
            async with McpToolbox({"postgresql": services.mcp_server("postgresql")}) as toolbox:
                return await route_with(services, toolbox, "triage")

        state = anyio.run(triage)
        assert state["kind"] == "triage"
        proposed = {p["event_type"]: p for p in state["proposals"]}
        assert proposed["order_completed"]["metric"] == "conversion"
        assert proposed["order_completed"]["state"] == "proposed"
        assert proposed["heartbeat"]["state"] == "kept in triage"
        assert "neonblue triage approve order_completed" in state["answer"]

        later = [(wire(f"oc2-{u}", u, "order_completed"), u) for u in USERS[3:]]
        assert ingest(services.app, bus, later).unclassified == 2  # not approved yet: still triage

        decide_rule(services.app, "order_completed", True, "alice")
        with pytest.raises(RuleError, match="it is approved"):
            decide_rule(services.app, "order_completed", False, "bob")
        newest = [(wire(f"oc3-{u}", u, "order_completed"), u) for u in USERS]
        stats = ingest(services.app, bus, newest)
        assert stats.unclassified == 0 and stats.recorded == len(USERS)

        opened = Opener(services.app)  # ingest stores keyed hashes of the event ids
        recorded = [
            e.event
            for e in services.app.log()
            if isinstance(e.event, Participation.MetricRecorded)
            and opened(e.originator_id, e.event).get("event_id", "").startswith("oc3-")
        ]
        assert len(recorded) == len(USERS)
        assert {r.metric for r in recorded} == {"conversion"}
        assert {r.context["classification"]["rule"] for r in recorded} == {
            "learned:order_completed"
        }
        assert [r.state for r in rules(services.app)] == ["approved"]

        replayed = replay_triaged(services.app, "order_completed")  # the 5 kept before approval
        assert replayed.recorded == 5 and not replayed.rejected
        assert replay_triaged(services.app, "order_completed").duplicates == 5  # idempotent
        with pytest.raises(RuleError, match="No rule for 'heartbeat' was proposed"):
            replay_triaged(services.app, "heartbeat")


def test_requests_are_routed(store):
    event = json.dumps(
        {
            "event_id": "e1",
            "user_id": "u1",
            "experiment_id": EXPERIMENT,
            "event_type": "exposure",
            "timestamp": "2026-09-02T10:00:00Z",
        }
    )
    unknown = json.dumps(
        {
            "event_id": "e2",
            "user_id": "u1",
            "experiment_id": EXPERIMENT,
            "event_type": "newsletter_signup",
            "timestamp": "2026-09-02T10:00:00Z",
        }
    )

    async def main():
        with bootstrap(store) as services:
            async with McpToolbox(services.read_servers()) as toolbox:
                return [
                    await route_with(services, toolbox, r)
                    for r in ("Which experiments are running?", EXPERIMENT, event, unknown)
                ]

    question, experiment, known, fresh = anyio.run(main)
    assert question["kind"] == "question" and "experiment(s) (running)" in question["answer"]
    assert experiment["kind"] == "experiment" and experiment["result"]["proposal"]["action"]
    assert known["kind"] == "event" and known["classification"]["rule"] == "exposure"
    assert "postgres, clickhouse" in known["answer"]
    assert "nothing was recorded" in known["answer"] and "not recorded" in fresh["answer"]
    assert fresh["classification"]["rule"] == "unclassified"
    assert fresh["proposals"][0]["metric"] == "conversion"  # 'signup' reads as a goal
