"""The deterministic answer: numbers with intervals and units, the names of experiments,
variants, metrics and segments, the period used, and what could not be answered and why.

Every number it prints is also kept in ``facts`` (label, value), which the LLM mode's
verifier checks a model's prose against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from agents.analytics.executor import DEFAULT_HORIZON, Gathered
from agents.analytics.plan import Intent, QueryPlan, Shape
from agents.analytics.vocabulary import Vocabulary
from domain.statistics.power import predictive_power

HELP = (
    "I can answer: how experiments are doing (lifts with intervals, guardrails, SRM), "
    "comparisons of metrics or variants, rankings of experiments, which experiments are "
    "running or tagged, how many there are, which variant a user gets, what changed and when, "
    "similar experiments, segment breakdowns, forecasts over the next N days, days to "
    "significance, and (asked explicitly) a recommendation."
)
TARGET_POWER = 0.8
MAX_DAYS = 365


@dataclass
class Composed:
    text: str
    facts: list[dict[str, Any]] = field(default_factory=list)
    action: str | None = None
    answered: bool = True
    footer: str = ""


@dataclass
class _Writer:
    vocabulary: Vocabulary
    parts: list[str] = field(default_factory=list)
    facts: list[dict[str, Any]] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)

    def fact(self, label: str, value: float | None, unit: str = "") -> None:
        if value is not None and math.isfinite(value):
            self.facts.append({"label": label, "value": float(value), "unit": unit})

    def name(self, key: str) -> str:
        try:
            return f'{key} ("{self.vocabulary.entry(key).name}")'
        except StopIteration:
            return key

    def variant(self, key: str, variant: str) -> str:
        try:
            names = dict(self.vocabulary.entry(key).variants)
        except StopIteration:
            names = {}
        return f'{variant} "{names[variant]}"' if variant in names else variant


def pct(value: float | None, sign: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:+.1%}" if sign else f"{value:.1%}"


def compose(plan: QueryPlan, found: Gathered, vocabulary: Vocabulary) -> Composed:
    w = _Writer(vocabulary)
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
        else:
            w.parts.append(
                f"Which experiment do you mean? Known experiments: {', '.join(vocabulary.keys)}."
            )
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
            _duration(w, key, analysis)
    if plan.has(Intent.ASSIGN):
        _assignments(w, plan, found)
    for key, history in found.histories.items():
        _history(w, key, history)
    if plan.has(Intent.SIMILAR):
        _similar(w, plan, found)
    if plan.has(Intent.SEGMENTS):
        _segments(w, plan, found)
    for key, trend in found.trends.items():
        _trend(w, plan, key, trend)
    action = (found.recommendation or {}).get("proposal", {}).get("action")
    return _done(w, plan, vocabulary, action=action, found=found)


def _done(
    w: _Writer,
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


def _recommendation(w: _Writer, recommendation: dict[str, Any]) -> None:
    proposal = recommendation["proposal"]
    w.parts.append(f"Recommendation: {proposal['action'].upper()}. {recommendation['narrative']}")
    for label, value in proposal.get("numbers", {}).items():
        unit = "%" if label in ("lift", "ci_lower", "ci_upper", "predictive_power") else ""
        w.fact(label, value, unit)
    if recommendation.get("waiting_for_approval"):
        w.parts.append(
            f"It waits for a person: neonblue approvals approve {recommendation['recommendation_id']}."
        )


def _listing(w: _Writer, plan: QueryPlan, found: Gathered) -> None:
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


def _row_text(w: _Writer, key: str, card: dict[str, Any], row: dict[str, Any]) -> str:
    label = f"{row['metric']} ({row['role']}) {w.variant(key, row['variant'])} vs {card['control']}"
    if row["relative_lift"] is None:
        return f"{label}: not enough data ({row['error'] or 'no estimate'})."
    w.fact(f"{key} {row['metric']} {row['variant']} lift", row["relative_lift"], "%")
    w.fact(f"{key} {row['metric']} {row['variant']} ci_lower", row["ci_lower"], "%")
    w.fact(f"{key} {row['metric']} {row['variant']} ci_upper", row["ci_upper"], "%")
    w.fact(f"{key} {row['metric']} {row['variant']} p", row["adjusted_p_value"], "p")
    w.fact(f"{key} {row['metric']} control mean", row["control_mean"], row["kind"])
    w.fact(f"{key} {row['metric']} {row['variant']} mean", row["variant_mean"], row["kind"])
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


def _analysis(w: _Writer, plan: QueryPlan, key: str, analysis: dict[str, Any]) -> None:
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


def _ranking(w: _Writer, plan: QueryPlan, found: Gathered) -> None:
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
        w.fact(f"{key} {row['metric']} {row['variant']} lift", lift, "%")
        w.fact(f"{key} ci_lower", row["ci_lower"], "%")
        w.fact(f"{key} ci_upper", row["ci_upper"], "%")
        verdict = "significant" if row["significant"] else "not significant"
        lines.append(
            f"{place}. {w.name(key)} {row['variant']}: {pct(lift)} "
            f"[{pct(row['ci_lower'])}, {pct(row['ci_upper'])}] on {row['metric']}, {verdict}"
        )
    w.parts.append(f"Experiments ranked by {metric} lift: " + "; ".join(lines) + ".")


def days_to_power(z_now: float, elapsed: float, alpha: float) -> float | None:
    """Total days at which predictive power reaches 80% at current traffic (None: > a year)."""
    for days in range(max(math.ceil(elapsed) + 1, 2), MAX_DAYS + 1):
        if predictive_power(z_now, elapsed / days, alpha) >= TARGET_POWER:
            return float(days)
    return None


def _duration(w: _Writer, key: str, analysis: dict[str, Any]) -> None:
    card = analysis["scorecard"]
    rows = [
        r
        for r in card["results"]
        if r["role"] == "primary" and r["relative_lift"] is not None and r["std_error"]
    ]
    elapsed = card.get("days_observed") or 0.0
    if not rows or elapsed <= 0:
        w.unanswered.append(f"{key} has no primary result yet to project a duration from")
        return
    row = max(rows, key=lambda r: r["relative_lift"])
    if row["significant"]:
        w.parts.append(
            f"{key}: {row['variant']} is already significant on {row['metric']} after "
            f"{elapsed:.0f} days; no more days are needed for significance."
        )
        return
    z_now = row["relative_lift"] / row["std_error"]
    needed = days_to_power(z_now, max(elapsed, 1.0), card["alpha"])
    w.fact(f"{key} days observed", elapsed, "days")
    w.fact(f"{key} z", z_now, "")
    if needed is None:
        w.parts.append(
            f"Duration for {key}: {row['variant']} on {row['metric']} ({pct(row['relative_lift'])}, "
            f"z={z_now:.2f} after {elapsed:.0f} days) would not reach an 80% chance of "
            f"significance within {MAX_DAYS} days at current traffic; the effect may be too "
            "small to detect."
        )
        return
    w.fact(f"{key} days needed", needed, "days")
    w.fact(f"{key} more days", needed - elapsed, "days")
    w.parts.append(
        f"Duration for {key}: about {needed:.0f} days in total ({needed - elapsed:.0f} more after "
        f"{elapsed:.0f}) give an 80% chance of significance for {row['variant']} on "
        f"{row['metric']} at current traffic ({pct(row['relative_lift'])}, z={z_now:.2f}; "
        "predictive power)."
    )


def _assignments(w: _Writer, plan: QueryPlan, found: Gathered) -> None:
    if not plan.user_ids:
        w.unanswered.append(
            "which user? Ask e.g. 'which variant does user u-42 get in checkout-cta-contrast?'"
        )
        return
    for answer in found.assignments:
        user, key = answer["user_id"], answer["experiment_id"]
        if answer["variant"] is None:
            w.parts.append(f"User {user} is not in {key}: {answer['reason']}.")
            continue
        low, high = answer["bucket_range"]
        w.fact(f"{user} hash", answer["hash_value"], "")
        w.parts.append(
            f"User {user} gets {w.variant(key, answer['variant'])} in {key}: hash "
            f"v{answer['hash_version']} = {answer['hash_value']:.4f}, inside [{low:.2f}, {high:.2f})."
        )


def _history(w: _Writer, key: str, history: dict[str, Any]) -> None:
    steps = []
    for event in history["events"]:
        at = (event.get("occurred_at") or event["recorded_at"])[:16].replace("T", " ")
        steps.append(f"{event['event'].split('.')[-1]} at {at}")
    status = history["state"]["status"] if history.get("state") else "unknown"
    w.parts.append(f"History of {key}: {'; '.join(steps)}. Now {status}.")


def _hit(w: _Writer, hit: dict[str, Any]) -> str:
    lift = hit.get("lift")
    w.fact(f"{hit['key']} lift", lift, "%")
    state = hit.get("outcome") if hit.get("outcome") not in (None, "none") else hit.get("status")
    shown = f", primary lift {pct(lift)}" if lift is not None else ""
    return f"{w.name(hit['key'])} ({state}{shown})"


def _similar(w: _Writer, plan: QueryPlan, found: Gathered) -> None:
    about = plan.description or plan.question
    hits = (found.similar or {}).get("results", [])
    threshold = (
        f" with a primary lift of at least {pct(plan.min_lift)}"
        if plan.min_lift is not None
        else ""
    )
    if hits:
        w.parts.append(
            f"Experiments nearest to '{about}'{threshold}: {', '.join(_hit(w, h) for h in hits)}."
        )
        return
    if found.similar is None:
        return
    nearest = (found.similar_unfiltered or {}).get("results", [])
    text = f"No experiment similar to '{about}' matches{threshold or ' the filters'}."
    if nearest:
        text += f" Nearest without that filter: {', '.join(_hit(w, h) for h in nearest)}."
    w.parts.append(text)


def _segment_rows(plan: QueryPlan, answers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [r for a in answers.values() for r in a.get("segments", [])]
    if plan.segments:
        rows = [r for r in rows if r["segment"] in plan.segments.get(r["dimension"], [])]
    return [r for r in rows if r["relative_lift"] is not None]


def _segment_text(w: _Writer, row: dict[str, Any]) -> str:
    key = row["experiment_id"]
    w.fact(
        f"{key} {row['dimension']} {row['segment']} {row['variant']} lift",
        row["relative_lift"],
        "%",
    )
    w.fact(f"{key} {row['segment']} ci_lower", row["ci_lower"], "%")
    w.fact(f"{key} {row['segment']} ci_upper", row["ci_upper"], "%")
    w.fact(f"{key} {row['segment']} users", row["users"], "count")
    return (
        f"{row['dimension']} {row['segment']} in {key} ({row['variant']}, {row['metric']}): "
        f"{pct(row['relative_lift'])} [{pct(row['ci_lower'])}, {pct(row['ci_upper'])}] on "
        f"{row['users']:,} users"
    )


def _segments(w: _Writer, plan: QueryPlan, found: Gathered) -> None:
    rows = sorted(_segment_rows(plan, found.segments), key=lambda r: -r["relative_lift"])
    wanted = ", ".join(f"{d} {'/'.join(v)}" for d, v in plan.segments.items())
    if not rows:
        scope = ", ".join(plan.tags) + " experiments" if plan.tags else "experiments in scope"
        if not found.segments and plan.time_range is not None:
            text = f"No {scope} started {plan.time_range.phrase} ({plan.time_range.describe()})."
        else:
            text = f"No segment data for {wanted or scope}."
        nearest = sorted(
            _segment_rows(plan, found.segments_unfiltered or found.segments),
            key=lambda r: -r["relative_lift"],
        )[:3]
        if nearest:
            starts = {
                k: w.vocabulary.entry(k).started_at
                for k in found.segments_unfiltered or found.segments
            }
            when = ", ".join(f"{k} started {d}" for k, d in starts.items() if d)
            text += f" Nearest ({when}): " + "; ".join(_segment_text(w, r) for r in nearest) + "."
        w.parts.append(text)
        return
    if plan.segments:
        w.parts.append(
            f"Segment {wanted}: " + "; ".join(_segment_text(w, r) for r in rows[:6]) + "."
        )
        return
    best, worst = rows[:3], rows[-1]
    text = "Best-responding segments: " + "; ".join(_segment_text(w, r) for r in best)
    text += f". Weakest: {_segment_text(w, worst)}"
    text += (
        f". Across {len(rows)} segment rows of {', '.join(sorted({r['dimension'] for r in rows}))}"
    )
    text += "; wide intervals mean few users per segment."
    w.parts.append(text)


def _trend(w: _Writer, plan: QueryPlan, key: str, trend: dict[str, Any]) -> None:
    days = plan.horizon_days or DEFAULT_HORIZON
    said = "" if plan.horizon_days else " (no horizon asked: 7 days)"
    w.fact(f"{key} horizon", days, "days")
    pieces = []
    for variant in trend.get("variants", []):
        if not variant.get("forecast"):
            pieces.append(f"{variant['variant']}: {variant['summary']}")
            continue
        end, low, high = variant["forecast"][-1], variant["lower"][-1], variant["upper"][-1]
        w.fact(f"{key} {variant['variant']} forecast", end, "%")
        w.fact(f"{key} {variant['variant']} forecast lower", low, "%")
        w.fact(f"{key} {variant['variant']} forecast upper", high, "%")
        w.fact(f"{key} {variant['variant']} predictive power", variant.get("predictive_power"), "%")
        power = variant.get("predictive_power")
        chance = (
            f"; chance of significance by day {trend['planned_days']:.0f}: {pct(power, sign=False)}"
            if power is not None
            else ""
        )
        pieces.append(
            f"{w.variant(key, variant['variant'])} cumulative {trend['metric']} lift in {days} days: "
            f"{pct(end)} [{pct(low)}, {pct(high)}]{chance}"
        )
    w.parts.append(
        f"Forecast for {key} over the next {days} days{said}: " + "; ".join(pieces) + "."
    )
