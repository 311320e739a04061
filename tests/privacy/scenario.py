"""A small portfolio ingested through the wire with privacy on, and one user to forget.

The user sends exposures and metrics with routing metadata and free text, an event of an
unknown type (kept for triage), a message for an unknown experiment (dead-lettered whole),
and an agent run mentions them: every place personal data can reach.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infrastructure.bootstrap import Services
from infrastructure.ingest.bus import InProcessBus
from infrastructure.ingest.runtime import ingest_in_process
from infrastructure.ingest.simulate import (
    TrafficPlan,
    WireMessage,
    ensure_experiments,
    planned,
    publish,
    wire_events,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = TrafficPlan(experiments=2, users=120, sessions=2.0, seed=11)
SECRETS = ("lives at 7 Zebra Lane", "203.0.113.77", "zebra@example.org", "Qx-bowling-league")


@dataclass(frozen=True)
class Subject:
    user_id: str
    experiment: str

    @property
    def needles(self) -> tuple[str, ...]:
        """What must not be found anywhere once the user is forgotten."""
        return (self.user_id, *SECRETS)


def ingest_portfolio(services: Services) -> Subject:
    app = services.app
    ensure_experiments(app, planned(PLAN), START)
    messages = list(wire_events(PLAN, START))
    first = json.loads(messages[0].value)
    subject = Subject(first["user_id"], first["experiment_id"])
    template = messages[0]

    def extra(event_id: str, **fields: object) -> WireMessage:
        body = dict(first, event_id=event_id, **fields)
        return WireMessage(template.topic, template.key, json.dumps(body).encode())

    messages += [
        extra(
            "private-1",
            semantic_context={"note": SECRETS[0]},
            routing_metadata={"ip": SECRETS[1], "email": SECRETS[2]},
        ),
        extra("private-2", event_type="bowling_score", properties={"club": SECRETS[3]}),
        extra("private-3", experiment_id="no-such-experiment", properties={"club": SECRETS[3]}),
    ]
    bus = InProcessBus()
    publish(bus.producer(), iter(messages))
    ingest_in_process(app, bus)
    asyncio.run(_agent_run_mentioning(services, subject.user_id))
    conversations = services.conversations()  # `ask` follow-up contexts, as plans are saved
    conversations.save("about-user", {"question": "which variant?", "user_ids": [subject.user_id]})
    conversations.save("other", {"question": "how is checkout doing?", "user_ids": []})
    return subject


async def _agent_run_mentioning(services: Services, user_id: str) -> None:
    """A checkpointed LangGraph run whose state holds the user id (as a question would)."""
    from typing import TypedDict

    from langgraph.graph import END, START, StateGraph

    from agents.common.checkpoints import open_checkpointer

    class State(TypedDict):
        question: str
        answer: str

    graph = StateGraph(State)
    graph.add_node("answer", lambda state: {"answer": f"looked up {state['question']}"})
    graph.add_edge(START, "answer")
    graph.add_edge("answer", END)
    async with open_checkpointer(services.event_store) as saver:
        compiled = graph.compile(checkpointer=saver)
        for thread, question in (("about-user", f"which variant does {user_id} see?"),
                                 ("other", "how is checkout doing?")):  # fmt: skip
            await compiled.ainvoke(
                {"question": question, "answer": ""}, {"configurable": {"thread_id": thread}}
            )


def bytes_under(path: Path) -> dict[str, bytes]:
    """Every file under a data directory by its relative name (stores, read models,
    checkpoints)."""
    return {
        str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
    }


def holding(files: dict[str, bytes], needles: list[bytes]) -> dict[str, list[bytes]]:
    """The files that hold any of the needles, with the needles each holds."""
    found = {name: [n for n in needles if n in data] for name, data in files.items()}
    return {name: held for name, held in found.items() if held}
