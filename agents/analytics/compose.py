"""The deterministic answer: numbers with intervals and units, the names of experiments,
variants, metrics and segments, the period used, and what could not be answered and why.

Every number it prints is also kept in ``facts`` (label, value), which the LLM mode's
verifier checks a model's prose against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agents.analytics import sections
from agents.analytics.executor import Gathered
from agents.analytics.plan import Intent, QueryPlan, Shape
from agents.analytics.vocabulary import Vocabulary
from agents.analytics.writer import Writer, pct
from agents.common.verify import FRACTION

HELP = (
    "I can answer: how experiments are doing (lifts with intervals, guardrails, SRM), "
    "comparisons of metrics or variants, rankings of experiments, which experiments are "
    "running or tagged, how many there are, which variant a user gets, what changed and when, "
    "similar experiments, segment breakdowns, forecasts over the next N days, days to "
    "significance, and (asked explicitly) a recommendation."
)


@dataclass
class Composed:
    text: str
    facts: list[dict[str, Any]] = field(default_factory=list)
    action: str | None = None
    answered: bool = True
    footer: str = ""


def compose(plan: QueryPlan, found: Gathered, vocabulary: Vocabulary) -> Composed:
    w = Writer(vocabulary)
    if plan.ignored:
        quoted = "; ".join(f"'{text.rstrip('.!?')}'" for text in plan.ignored)
        w.parts.append(
            f"Not done: {quoted}. Questions are read-only: nothing was approved, rejected or "
            "changed (decide on recommendations with `neonblue approvals approve|reject ID`)."
        )
    needs_key = {Intent.ASSIGN, Intent.HISTORY, Intent.TREND, Intent.RECOMMEND}
    if not plan.intents:
        w.parts.append(f"I did not understand the question. {HELP}")
        return _done(w, plan, vocabulary, answered=bool(plan.ignored))
    if not plan.experiments and (
        set(plan.intents) & needs_key
        or plan.intents == [Intent.ANALYZE]
        or plan.intents == [Intent.DURATION]
    ):
        if plan.candidates:
            w.parts.append(
                "Which experiment do you mean? Did you mean: "
                + ", ".join(w.name(k) for k in plan.candidates)
                + "?"
            )
        elif vocabulary.keys:
            w.parts.append(
                f"Which experiment do you mean? Known experiments: {', '.join(vocabulary.keys)}."
            )
        else:
            w.parts.append("Which experiment do you mean? This store holds no experiments yet.")
        return _done(w, plan, vocabulary, answered=False)
    if found.recommendation:
        _recommendation(w, found.recommendation)
    if plan.has(Intent.LIST) or plan.has(Intent.COUNT):
        _listing(w, plan, found)
    if plan.has(Intent.RANK):
        _ranking(w, plan, found)
    elif plan.has(Intent.ANALYZE):
        for key, analysis in found.analyses.items():
            _analysis(w, plan, key, analysis)
    if plan.has(Intent.DURATION):
        for key, analysis in found.analyses.items():
            sections.duration_section(w, key, analysis)
    if plan.has(Intent.ASSIGN):
        sections.assignments_section(w, plan, found)
    for key, history in found.histories.items():
        sections.history_section(w, key, history)
    if plan.has(Intent.SIMILAR):
        sections.similar_section(w, plan, found)
    if plan.has(Intent.SEGMENTS):
        sections.segments_section(w, plan, found)
    for key, trend in found.trends.items():
        sections.trend_section(w, plan, key, trend)
    action = (found.recommendation or {}).get("proposal", {}).get("action")
    return _done(w, plan, vocabulary, action=action, found=found)


def _done(
    w: Writer,
    plan: QueryPlan,
    vocabulary: Vocabulary,
    answered: bool = True,
    action: str | None = None,
    found: Gathered | None = None,
) -> Composed:
    footer = [_period(plan, vocabulary)] if answered else []
    missing = [*plan.problems, *w.unanswered, *(found.failures if found else [])]
    if missing:
        footer.append("Could not answer: " + " ".join(m.rstrip(".") + "." for m in missing))
    body = [p for p in w.parts if p]
    answered = answered and bool(body)
    return Composed(" ".join(body + footer), w.facts, action, answered, " ".join(footer))


def _period(plan: QueryPlan, vocabulary: Vocabulary) -> str:
    first, last = vocabulary.span()
    span = (
        f"{first.isoformat() if first else 'no start yet'} to {last.isoformat() if last else 'now'}"
    )
    if plan.time_range is not None:
        return (
            f"Period: experiments started {plan.time_range.phrase} "
            f"({plan.time_range.describe()}); the data spans {span}."
        )
    return f"Period: each experiment's whole run so far (the data spans {span})."


def _recommendation(w: Writer, recommendation: dict[str, Any]) -> None:
    proposal = recommendation["proposal"]
    w.parts.append(f"Recommendation: {proposal['action'].upper()}. {recommendation['narrative']}")
    for label, value in proposal.get("numbers", {}).items():
        unit = FRACTION if label in ("lift", "ci_lower", "ci_upper", "predictive_power") else ""
        w.fact(label, value, unit)
    if recommendation.get("waiting_for_approval"):
        w.parts.append(
            f"It waits for a person: neonblue approvals approve {recommendation['recommendation_id']}."
        )


def _listing(w: Writer, plan: QueryPlan, found: Gathered) -> None:
    listing = found.listing
    if listing is None:
        return
    label = ", ".join(v for v in (plan.status, *(f"tagged {t}" for t in plan.tags)) if v) or "all"
    w.fact("experiments", listing["total"], "count")
    if not listing["experiments"]:
        nearest = ", ".join(f"{e.key} ({e.status})" for e in w.vocabulary.entries[:5])
        w.parts.append(f"No experiments match ({label}); all experiments: {nearest}.")
        return
    names = [f"{w.name(e['key'])} ({e['status']})" for e in listing["experiments"]]
    lead = "There are " if plan.has(Intent.COUNT) else ""
    w.parts.append(f"{lead}{listing['total']} experiment(s) ({label}): {', '.join(names)}.")


def _rows(plan: QueryPlan, analysis: dict[str, Any]) -> list[dict[str, Any]]:
    rows = analysis["scorecard"]["results"]
    chosen = [
        r
        for r in rows
        if (not plan.metrics or r["metric"] in plan.metrics)
        and (not plan.metric_roles or r["role"] in plan.metric_roles)
        and (not plan.variants or r["variant"] in plan.variants)
    ]
    if not chosen and (plan.metrics or plan.metric_roles):
        chosen = [r for r in rows if not plan.variants or r["variant"] in plan.variants]
    failing = [
        r for r in rows if r.get("guardrail_status") in ("fail", "failing") and r not in chosen
    ]
    return (chosen or rows) + failing


def _unit(row: dict[str, Any], value: float | None) -> str:
    if value is None:
        return "n/a"
    if row["kind"] == "binomial":
        return f"{value:.1%}"
    suffix = " ms" if row["metric"].endswith("_ms") else " per user"
    return f"{value:,.2f}{suffix}"


def _row_text(w: Writer, key: str, card: dict[str, Any], row: dict[str, Any]) -> str:
    label = f"{row['metric']} ({row['role']}) {w.variant(key, row['variant'])} vs {card['control']}"
    if row["relative_lift"] is None:
        return f"{label}: not enough data ({row['error'] or 'no estimate'})."
    w.fact(f"{key} {row['metric']} {row['variant']} lift", row["relative_lift"], FRACTION)
    w.fact(f"{key} {row['metric']} {row['variant']} ci_lower", row["ci_lower"], FRACTION)
    w.fact(f"{key} {row['metric']} {row['variant']} ci_upper", row["ci_upper"], FRACTION)
    w.fact(f"{key} {row['metric']} {row['variant']} adjusted p", row["adjusted_p_value"], "p")
    w.fact(f"{key} {row['metric']} control mean", row["control_mean"], _unit_of(row))
    w.fact(f"{key} {row['metric']} {row['variant']} mean", row["variant_mean"], _unit_of(row))
    verdict = {"better": "significantly better", "worse": "significantly worse"}.get(
        row["direction"], "not significant"
    )
    guardrail = f", guardrail {row['guardrail_status']}" if row.get("guardrail_status") else ""
    p = row["adjusted_p_value"]
    return (
        f"{label}: {pct(row['relative_lift'])} [{pct(row['ci_lower'])}, {pct(row['ci_upper'])}] "
        f"({_unit(row, row['control_mean'])} -> {_unit(row, row['variant_mean'])}), {verdict}"
        f"{guardrail} ({card['engine']}, adjusted p={p:.3g})."
        if p is not None
        else f"{label}: {pct(row['relative_lift'])}, {verdict}{guardrail}."
    )


def _analysis(w: Writer, plan: QueryPlan, key: str, analysis: dict[str, Any]) -> None:
    card, experiment = analysis["scorecard"], analysis["experiment"]
    w.fact(f"{key} users", card["total_users"], "count")
    days = card.get("days_observed")
    w.fact(f"{key} days", days, "days")
    ran = f", {days:.0f} days" if days else ""
    rows = _rows(plan, analysis)
    own = {r["metric"] for r in card["results"]}
    for metric in plan.metrics:
        if metric not in own:
            w.unanswered.append(
                f"{key} has no metric {metric} (its metrics: {', '.join(sorted(own))})"
            )
    text = [f"{w.name(key)} ({experiment['status']}, {card['total_users']:,} users{ran}):"]
    text += [_row_text(w, key, card, r) for r in rows]
    significant = [r for r in rows if r["direction"] in ("better", "worse")]
    if plan.shape == Shape.YES_NO or plan.shape == Shape.COMPARISON:
        if significant:
            text.append(
                "In short: "
                + "; ".join(
                    f"{r['metric']} is significantly {r['direction']} in {r['variant']} "
                    f"({pct(r['relative_lift'])})"
                    for r in significant
                )
                + "; "
                + (
                    ", ".join(
                        f"{r['metric']} shows no significant difference"
                        for r in rows
                        if r not in significant and r["relative_lift"] is not None
                    )
                    or "nothing else differs"
                )
                + "."
            )
        else:
            metrics = ", ".join(dict.fromkeys(r["metric"] for r in rows))
            text.append(f"In short: no significant difference yet on {metrics}.")
    treatments = [r for r in rows if r["role"] == "primary" and r["relative_lift"] is not None]
    if plan.shape == Shape.RANKING and len(treatments) > 1:
        ranked = sorted(treatments, key=lambda r: -r["relative_lift"])
        lead = ranked[0]
        verdict = (
            "significantly ahead of control"
            if lead["direction"] == "better"
            else "ahead so far but not significantly better than control"
        )
        text.append(
            f"Leading on {lead['metric']}: {w.variant(key, lead['variant'])} "
            f"({pct(lead['relative_lift'])}), {verdict}."
        )
    text.append(analysis["health"][0])
    w.parts.append(" ".join(text))


def _ranking(w: Writer, plan: QueryPlan, found: Gathered) -> None:
    entries = []
    for key, analysis in found.analyses.items():
        rows = [
            r
            for r in analysis["scorecard"]["results"]
            if r["relative_lift"] is not None
            and (r["metric"] in plan.metrics if plan.metrics else r["role"] == "primary")
        ]
        if rows:
            best = max(rows, key=lambda r: r["relative_lift"])
            entries.append((best["relative_lift"], key, best))
    if not entries:
        w.unanswered.append("no experiment in scope has a result to rank")
        return
    entries.sort(
        reverse="worst" not in plan.question.lower() and "lowest" not in plan.question.lower()
    )
    metric = plan.metrics[0] if plan.metrics else "primary metric"
    lines = []
    for place, (lift, key, row) in enumerate(entries, 1):
        w.fact(f"{key} {row['metric']} {row['variant']} lift", lift, FRACTION)
        w.fact(f"{key} {row['metric']} {row['variant']} ci_lower", row["ci_lower"], FRACTION)
        w.fact(f"{key} {row['metric']} {row['variant']} ci_upper", row["ci_upper"], FRACTION)
        verdict = "significant" if row["significant"] else "not significant"
        lines.append(
            f"{place}. {w.name(key)} {row['variant']}: {pct(lift)} "
            f"[{pct(row['ci_lower'])}, {pct(row['ci_upper'])}] on {row['metric']}, {verdict}"
        )
    w.parts.append(f"Experiments ranked by {metric} lift: " + "; ".join(lines) + ".")


def _unit_of(row: dict[str, Any]) -> str:
    """A binomial metric's means are shares (conversion rates); other means are amounts."""
    return FRACTION if row["kind"] == "binomial" else ""
