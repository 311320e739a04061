"""Rule-based intent and entity extraction (the deterministic mode; no LLM involved).

Small, explicit rules over a question and the experiment catalog: which kind of question
it is, which experiment it names, and filters such as "more than 20%" or "last quarter".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError

MAX_DAYS = 3650
"""Longest period a question may ask about ("last N days"): ten years."""
MAX_PERCENT = 1000.0
"""Largest lift a question may name ("more than N%")."""


class QuestionOutOfRange(DomainError):
    """A question names a period or a lift beyond what the platform can look up."""


class Intent(StrEnum):
    ASSIGN = "assign"  # which variant does a user get
    RECOMMEND = "recommend"  # what should we do with an experiment
    SIMILAR = "similar"  # semantic search over past experiments
    SEGMENTS = "segments"  # which segments responded best
    TREND = "trend"  # forecast / trend of an experiment
    HISTORY = "history"  # what happened to an experiment and when
    LIST = "list"  # which experiments are running / tagged ...
    ANALYZE = "analyze"  # results of one experiment
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CatalogEntry:
    key: str
    name: str
    tags: tuple[str, ...] = ()
    status: str = ""


@dataclass(frozen=True)
class ParsedQuestion:
    question: str
    intent: Intent
    experiment_key: str | None = None
    user_id: str | None = None
    min_lift: float | None = None
    metric: str | None = None
    status: str | None = None
    tag: str | None = None
    since: date | None = None
    until: date | None = None
    search_text: str = ""
    matched_terms: tuple[str, ...] = field(default_factory=tuple)


RULES: list[tuple[Intent, re.Pattern[str]]] = [
    (
        Intent.ASSIGN,
        re.compile(
            r"\b(which|what) variant\b|\bassign(ed|ment)?\b.*\buser\b|\buser\b.*\b(get|see|assigned)\b"
        ),
    ),
    (
        Intent.SIMILAR,
        re.compile(
            r"\bsimilar\b|\blike our\b|\bfind experiments\b|\bexperiments (about|on|related)\b|\bpast experiments\b|\bsearch\b"
        ),
    ),
    (
        Intent.RECOMMEND,
        re.compile(
            r"\brecommend|\bwhat should (we|i)\b|\boptimi[sz]|\bnext step|\bship it\b|\bshould we (ship|stop|extend)"
        ),
    ),
    (
        Intent.SEGMENTS,
        re.compile(
            r"\bsegments?\b|\bresponded best\b|\bwhich (users|devices|countries|platforms)\b|\bby (device|country|platform)\b|\bbreak ?down\b"
        ),
    ),
    (
        Intent.TREND,
        re.compile(
            r"\btrend|\bforecast|\bpredict|\bnext (week|\d+ days)\b|\bwill .* reach\b|\bprojection\b"
        ),
    ),
    (
        Intent.HISTORY,
        re.compile(
            r"\bhistory\b|\bwhat changed\b|\bwhen (did|was)\b|\bwho (changed|started|stopped)\b|\baudit\b"
        ),
    ),
    (
        Intent.LIST,
        re.compile(
            r"\b(which|what|list|show|how many)\b.*\bexperiments\b|\bexperiments (are|were) (running|paused|stopped|concluded)\b"
        ),
    ),
    (
        Intent.ANALYZE,
        re.compile(
            r"\bhow (is|are|did)\b|\bresults?\b|\bsignifican|\bwinning\b|\bwinner\b|\blift\b|\bdoing\b|\bperform|\bconversion\b|\bsrm\b|\bsample ratio\b|\bguardrail"
        ),
    ),
]

STATUS_WORDS = {
    "running": "running",
    "live": "running",
    "active": "running",
    "paused": "paused",
    "stopped": "stopped",
    "concluded": "concluded",
    "finished": "concluded",
    "draft": "draft",
}
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "our",
        "my",
        "we",
        "us",
        "of",
        "for",
        "in",
        "on",
        "to",
        "and",
        "or",
        "by",
        "with",
        "is",
        "are",
        "was",
        "were",
        "did",
        "does",
        "do",
        "how",
        "what",
        "which",
        "that",
        "this",
        "those",
        "these",
        "experiment",
        "experiments",
        "test",
        "tests",
        "than",
        "more",
        "less",
        "show",
        "me",
        "list",
        "find",
        "any",
        "all",
        "it",
        "its",
        "be",
        "been",
        "best",
        "last",
    ]
)
PERCENT = re.compile(r"(?:more than|over|above|at least|>=?|by)\s*(\d+(?:\.\d+)?)\s*%")
USER = re.compile(
    r"\buser\s+(?!(?:segments?|ids?|groups?|base|journeys?|experience|behaviou?r)\b)([\w@.:-]+)"
)


def parse_question(
    question: str, catalog: list[CatalogEntry], today: date | None = None
) -> ParsedQuestion:
    text = question.strip()
    lowered = text.lower()
    intent = next((i for i, rule in RULES if rule.search(lowered)), Intent.UNKNOWN)
    key, terms = match_experiment(lowered, catalog)
    if intent == Intent.UNKNOWN and key:
        intent = Intent.ANALYZE
    if intent == Intent.LIST and key and not re.search(r"\bexperiments\b", lowered):
        intent = Intent.ANALYZE
    if intent == Intent.SIMILAR:
        key = None  # "similar to our checkout optimisation" describes, it does not name
    since, until = time_range(lowered, today or datetime.now(UTC).date())
    lift = PERCENT.search(lowered)
    if lift and float(lift.group(1)) > MAX_PERCENT:
        raise QuestionOutOfRange(
            f"A lift of more than {MAX_PERCENT:,.0f}% is out of range; ask about a smaller one."
        )
    user = USER.search(text)
    return ParsedQuestion(
        question=text,
        intent=intent,
        experiment_key=key,
        user_id=user.group(1).rstrip("?.,") if user else None,
        min_lift=float(lift.group(1)) / 100 if lift else None,
        metric=_metric(lowered),
        status=next((v for w, v in STATUS_WORDS.items() if re.search(rf"\b{w}\b", lowered)), None),
        tag=_tag(lowered, catalog),
        since=since,
        until=until,
        search_text=_search_text(lowered),
        matched_terms=terms,
    )


def tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t and t not in STOPWORDS]


def match_experiment(
    lowered: str, catalog: list[CatalogEntry]
) -> tuple[str | None, tuple[str, ...]]:
    """The experiment the question names: exact key, else the best token overlap (>= 2 terms)."""
    for entry in catalog:
        if entry.key.lower() in lowered:
            return entry.key, (entry.key,)
    words = set(tokens(lowered))
    best, best_terms = None, ()
    for entry in catalog:
        vocabulary = set(tokens(entry.key)) | set(tokens(entry.name))
        common = tuple(sorted(words & vocabulary))
        if len(common) > len(best_terms):
            best, best_terms = entry.key, common
    return (best, best_terms) if len(best_terms) >= 2 else (None, ())


def time_range(lowered: str, today: date) -> tuple[date | None, date | None]:
    if "last quarter" in lowered or "previous quarter" in lowered:
        quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        end = quarter_start - timedelta(days=1)
        return date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end
    if "this quarter" in lowered:
        return date(today.year, 3 * ((today.month - 1) // 3) + 1, 1), today
    days = re.search(r"last (\d+) days", lowered)
    if days:
        if len(days.group(1)) > 6 or int(days.group(1)) > MAX_DAYS:
            raise QuestionOutOfRange(
                f"Periods go back at most {MAX_DAYS:,} days (ten years); ask about a shorter one."
            )
        return today - timedelta(days=int(days.group(1))), today
    if "last month" in lowered:
        first = today.replace(day=1)
        end = first - timedelta(days=1)
        return end.replace(day=1), end
    if "last week" in lowered:
        return today - timedelta(days=7), today
    return None, None


def _metric(lowered: str) -> str | None:
    for metric, words in (
        ("conversion", ("conversion", "convert", "sign-up", "signup")),
        ("revenue", ("revenue", "order value", "aov")),
        ("page_load_ms", ("latency", "page load", "load time")),
    ):
        if any(w in lowered for w in words):
            return metric
    return None


def _tag(lowered: str, catalog: list[CatalogEntry]) -> str | None:
    tags = sorted({t for entry in catalog for t in entry.tags}, key=len, reverse=True)
    for tag in tags:
        if re.search(rf"\b{re.escape(tag)}\b", lowered):
            return tag
    return None


def _search_text(lowered: str) -> str:
    match = re.search(
        r"(?:similar to|like|about|on|related to)\s+(?:our\s+|the\s+)?(.+?)(?:\s+that\b|\s+which\b|\?|$)",
        lowered,
    )
    return (match.group(1) if match else lowered).strip()
