"""Natural-language analytics in deterministic mode: >= 30 questions of the seed's kinds,
routed and answered through real stdio MCP servers on the simulated portfolio."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from agents.analytics.runner import ask_with
from agents.common.toolbox import McpToolbox
from domain import bucketing
from infrastructure.bootstrap import bootstrap
from infrastructure.settings import EventStoreSettings

State = dict[str, Any]


def tools_used(state: State) -> set[str]:
    return {f"{s['server']}.{s['tool']}" for s in state["sources"]}


def first_hit(key: str) -> Callable[[State], bool]:
    return lambda s: s["result"]["results"][0]["key"] == key and key in s["answer"]


def quotes_lift(s: State) -> bool:
    rows = s["result"]["scorecard"]["results"]
    return any(f"{r['relative_lift']:+.1%}" in s["answer"] for r in rows if r["relative_lift"])


def assigned(user: str, key: str) -> Callable[[State], bool]:
    def check(s: State) -> bool:
        n = bucketing.hash(key, user, 2)
        return s["result"]["hash_value"] == n and s["result"]["variant"] in s["answer"]

    return check


def mentions(*words: str) -> Callable[[State], bool]:
    return lambda s: all(w in s["answer"] for w in words)


def similar_with_min_lift(s: State) -> bool:
    hits = s["result"]["results"]
    return all(h["lift"] >= 0.2 for h in hits) and s["sources"][-1]["arguments"]["filters"] == {
        "min_lift": 0.2
    }


def best_segment(s: State) -> bool:
    rows = [r for r in s["result"]["segments"] if r["relative_lift"] is not None]
    best = max(rows, key=lambda r: r["relative_lift"])
    return best["segment"] in s["answer"] and f"{best['relative_lift']:+.1%}" in s["answer"]


QUESTIONS: list[tuple[str, str, str | None, Callable[[State], bool]]] = [
    # (question, intent, experiment, check)
    ("Show me experiments similar to our checkout optimization that increased conversion by "
     "more than 20%", "similar", None, similar_with_min_lift),
    ("Find experiments about autoplay video on the homepage", "similar", None,
     first_hit("homepage-hero-video")),
    ("Any past experiments on annual billing discounts?", "similar", None,
     first_hit("pricing-annual-discount")),
    ("Experiments similar to a lower free shipping minimum", "similar", None,
     first_hit("free-shipping-threshold")),
    ("Search for experiments about a checklist for new app users", "similar", None,
     first_hit("mobile-onboarding-checklist")),
    ("What user segments responded best to pricing experiments in the last quarter?",
     "segments", None, best_segment),
    ("Which devices responded best in free-shipping-threshold?", "segments",
     "free-shipping-threshold", best_segment),
    ("Break down the checkout cta contrast results by device", "segments",
     "checkout-cta-contrast", best_segment),
    ("Which segments responded best to the mobile onboarding checklist?", "segments",
     "mobile-onboarding-checklist", best_segment),
    ("Recommend optimization strategies for our mobile onboarding experiment", "recommend",
     "mobile-onboarding-checklist", lambda s: bool(s["recommendation_id"])),
    ("What should we do with the homepage hero video?", "recommend", "homepage-hero-video",
     mentions("Guardrail page_load_ms", "approve")),
    ("Should we ship the free shipping threshold test?", "recommend", "free-shipping-threshold",
     lambda s: s["result"]["proposal"]["action"] in s["answer"].lower()
     or "Keep" in s["answer"] or "Extend" in s["answer"] or "Ship" in s["answer"]),
    ("What are the next steps for pricing-annual-discount?", "recommend",
     "pricing-annual-discount", lambda s: s["result"]["proposal"]["reasons"][0] in s["answer"]),
    ("How is the checkout cta contrast test doing?", "analyze", "checkout-cta-contrast",
     quotes_lift),
    ("Is pricing-annual-discount significant?", "analyze", "pricing-annual-discount", quotes_lift),
    ("What is the conversion lift of the free shipping threshold experiment?", "analyze",
     "free-shipping-threshold", quotes_lift),
    ("Did the homepage hero video hurt the page load guardrail?", "analyze",
     "homepage-hero-video", mentions("page_load_ms", "significantly worse")),
    ("Results of mobile-onboarding-checklist", "analyze", "mobile-onboarding-checklist",
     quotes_lift),
    ("Any sample ratio mismatch in checkout-cta-contrast?", "analyze", "checkout-cta-contrast",
     mentions("No sample ratio mismatch")),
    ("Which experiments are running?", "list", None,
     lambda s: s["result"]["total"] == 4 and "homepage-hero-video" not in s["answer"]),
    ("List experiments tagged pricing", "list", None,
     mentions("pricing-annual-discount", "free-shipping-threshold")),
    ("Which experiments are stopped?", "list", None, mentions("1 experiment(s)", "homepage-hero-video")),
    ("How many experiments are there?", "list", None, mentions("5 experiment(s)")),
    ("Show me all checkout experiments", "list", None,
     mentions("checkout-cta-contrast", "free-shipping-threshold")),
    ("Which variant does user u-42 get in free-shipping-threshold?", "assign",
     "free-shipping-threshold", assigned("u-42", "free-shipping-threshold")),
    ("What variant is user alice assigned in checkout-cta-contrast?", "assign",
     "checkout-cta-contrast", assigned("alice", "checkout-cta-contrast")),
    ("Which variant would user 12345 see in pricing-annual-discount?", "assign",
     "pricing-annual-discount", assigned("12345", "pricing-annual-discount")),
    ("When did homepage-hero-video stop?", "history", "homepage-hero-video",
     mentions("Stopped", "Now stopped")),
    ("What changed in checkout-cta-contrast and when?", "history", "checkout-cta-contrast",
     mentions("Created", "Started")),
    ("Show the history of free-shipping-threshold", "history", "free-shipping-threshold",
     mentions("Now running")),
    ("Forecast the checkout cta contrast conversion trend for next week", "trend",
     "checkout-cta-contrast", lambda s: s["result"]["summary"] in s["answer"]),
    ("Predict where pricing-annual-discount will end up", "trend", "pricing-annual-discount",
     mentions("Chance to reach significance")),
    ("What's the weather like in Lisbon?", "unknown", None, mentions("did not understand")),
    ("How is it doing?", "analyze", None, mentions("Which experiment do you mean?")),
]  # fmt: skip


@pytest.fixture
def store(portfolio_dir: Path, tmp_path: Path) -> EventStoreSettings:
    shutil.copy(portfolio_dir / "events.db", tmp_path / "events.db")
    return EventStoreSettings(data_dir=tmp_path, event_store="")


def test_thirty_plus_questions_route_and_answer(store):
    assert len(QUESTIONS) >= 30

    async def main() -> list[State]:
        with bootstrap(store) as services:
            async with McpToolbox(services.read_servers()) as toolbox:
                return [await ask_with(services, toolbox, q) for q, *_ in QUESTIONS]

    states = anyio.run(main)
    failures = []
    for (question, intent, key, check), state in zip(QUESTIONS, states, strict=True):
        parsed = state["parsed"]
        ok = parsed["intent"] == intent and parsed["experiment_key"] == key
        try:
            ok = ok and check(state)
        except (KeyError, IndexError, TypeError, ValueError) as error:
            ok = False
            state["answer"] += f" [check error: {error!r}]"
        if not ok:
            failures.append(
                f"{question!r}: {parsed['intent']}/{parsed['experiment_key']} -> "
                f"{state['answer'][:300]}"
            )
    assert not failures, "\n".join(failures)
