"""The words a question may use for experiments, variants and metrics, from the catalog.

Names match lexically first (keys, names, variant names, tags, descriptions; small typos
through `difflib`); only when nothing matches does the planner ask the knowledge base's
semantic search (the embedding model when installed), so a question that names its
experiment never loads a model. Metric synonyms derive from each metric's definition
(key, kind, direction) and the experiment's hypothesis ("increases paid sign-ups").
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

WORD = re.compile(r"[a-z0-9$]+(?:\.[0-9]+)?")
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
        "so",
        "far",
        "doing",
        "going",
        "results",
        "result",
        "give",
        "tell",
        "about",
        "there",
        "their",
        "has",
        "have",
        "had",
        "us",
        "you",
        "your",
        "can",
        "could",
        "would",
        "should",
        "will",
        "just",
        "much",
        "many",
        "per",
        "vs",
        "versus",
        "compare",
        "compared",
        "between",
        "over",
        "under",
        "at",
        "as",
        "from",
        "into",
        "up",
        "down",
        "get",
        "gets",
        "see",
    ]
)
GENERIC = frozenset(
    [
        "lift",
        "lifts",
        "significant",
        "significance",
        "winning",
        "winner",
        "variant",
        "variants",
        "metric",
        "metrics",
        "users",
        "user",
        "segment",
        "segments",
        "performance",
        "perform",
        "performing",
        "trend",
        "forecast",
        "predict",
        "history",
        "changed",
        "when",
        "why",
        "who",
        "new",
        "running",
        "stopped",
        "paused",
        "status",
        "data",
        "day",
        "days",
        "week",
        "weeks",
        "month",
        "quarter",
        "year",
        "next",
        "previous",
        "guardrail",
        "guardrails",
    ]
)


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w not in STOPWORDS]


@dataclass(frozen=True)
class MetricInfo:
    key: str
    role: str
    kind: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class CatalogEntry:
    """One experiment as `list_experiments` describes it."""

    key: str
    name: str
    status: str = ""
    tags: tuple[str, ...] = ()
    description: str = ""
    hypothesis: str = ""
    variants: tuple[tuple[str, str], ...] = ()  # (key, name)
    metrics: tuple[MetricInfo, ...] = ()
    started_at: date | None = None
    stopped_at: date | None = None

    @classmethod
    def of(cls, e: dict[str, Any]) -> CatalogEntry:
        return cls(
            key=e["key"],
            name=e.get("name", e["key"]),
            status=e.get("status", ""),
            tags=tuple(e.get("tags") or ()),
            description=e.get("description") or "",
            hypothesis=e.get("hypothesis") or "",
            variants=tuple((v["key"], v.get("name", v["key"])) for v in e.get("variants") or ()),
            metrics=tuple(
                MetricInfo(m["key"], m["role"], m["kind"], m.get("higher_is_better", True))
                for m in e.get("metrics") or ()
            ),
            started_at=_day(e.get("started_at")),
            stopped_at=_day(e.get("stopped_at")),
        )


def _day(value: Any) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


MONEY = ("money", "revenue", "spend", "order value", "aov", "earn", "sales", "basket")
SPEED = ("slow", "slower", "speed", "latency", "load time", "page load", "fast", "faster")
CONVERSION = ("conversion", "convert", "converted", "conversions", "conversion rate")
VERBS = re.compile(r"\b(?:increases?|improves?|raises?|boosts?|lifts?)\s+(?:the\s+)?([a-z -]+)")


def metric_synonyms(metric: MetricInfo, hypothesis: str = "") -> set[str]:
    """Phrases that name ``metric``: its key's words, words for its kind and direction,
    and for a primary metric what the hypothesis says it increases."""
    key_words = words(metric.key.replace("_", " "))
    found = {metric.key.lower(), " ".join(key_words), *(w for w in key_words if len(w) > 2)}
    found -= {"ms", "rate"}
    if metric.kind == "binomial":
        found |= set(CONVERSION)
    if {"revenue", "value", "amount", "spend", "gmv", "sales"} & set(key_words):
        found |= set(MONEY)
    if not metric.higher_is_better and {"ms", "latency", "load", "time", "seconds"} & set(
        key_words
    ):
        found |= set(SPEED)
    if metric.role == "primary":
        for match in VERBS.finditer(hypothesis.lower()):
            phrase = match.group(1).strip()
            found |= {phrase, phrase.removeprefix("paid ").strip(), phrase.split(" ")[-1]}
    return {f for f in found if f and f not in STOPWORDS}


@dataclass
class Vocabulary:
    """Catalog-derived matchers."""

    entries: list[CatalogEntry]
    _terms: dict[str, dict[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            terms: dict[str, float] = {}
            texts = [
                (entry.description, 1.0),
                (entry.hypothesis, 0.5),
                (" ".join(entry.tags), 2.0),
                (" ".join(name for _, name in entry.variants), 2.0),
                (entry.name, 3.0),
                (entry.key.replace("-", " "), 3.0),
            ]
            for text, weight in texts:
                for word in content_words(text):
                    if word not in GENERIC:
                        terms[word] = max(terms.get(word, 0.0), weight)
            self._terms[entry.key] = terms

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.entries]

    def entry(self, key: str) -> CatalogEntry:
        return next(e for e in self.entries if e.key == key)

    def exact_keys(self, lowered: str) -> list[str]:
        found = [(lowered.find(e.key.lower()), e.key) for e in self.entries]
        return [key for at, key in sorted(found) if at >= 0]

    def scores(self, text: str) -> list[tuple[float, str]]:
        """Experiments by how well ``text``'s words match their vocabulary, best first."""
        asked = [w for w in content_words(text) if w not in GENERIC]
        ranked = []
        for key, terms in self._terms.items():
            score = 0.0
            for word in set(asked):
                if word in terms:
                    score += terms[word]
                elif len(word) >= 5:
                    close = difflib.get_close_matches(word, list(terms), n=1, cutoff=0.85)
                    score += terms[close[0]] * 0.8 if close else 0.0
            if score:
                ranked.append((score, key))
        return sorted(ranked, reverse=True)

    def tags(self) -> list[str]:
        return sorted({t for e in self.entries for t in e.tags}, key=len, reverse=True)

    def metric_phrases(self, keys: list[str]) -> dict[str, set[str]]:
        """metric key -> phrases, over ``keys`` (or the whole catalog)."""
        phrases: dict[str, set[str]] = {}
        for entry in self.entries:
            if keys and entry.key not in keys:
                continue
            for metric in entry.metrics:
                phrases.setdefault(metric.key, set()).update(
                    metric_synonyms(metric, entry.hypothesis)
                )
        return phrases

    def variant_phrases(self, keys: list[str]) -> dict[str, set[str]]:
        phrases: dict[str, set[str]] = {}
        for entry in self.entries:
            if keys and entry.key not in keys:
                continue
            for variant, name in entry.variants:
                phrases.setdefault(variant, set()).update(
                    {variant.lower(), name.lower(), *_distinctive(name, entry)}
                )
        return phrases

    def span(self) -> tuple[date | None, date | None]:
        """First start and last stop (None while any experiment still runs)."""
        starts = [e.started_at for e in self.entries if e.started_at]
        running = any(e.started_at and not e.stopped_at for e in self.entries)
        stops = [e.stopped_at for e in self.entries if e.stopped_at]
        return (min(starts) if starts else None, None if running or not stops else max(stops))


def _distinctive(name: str, entry: CatalogEntry) -> set[str]:
    """Parts of a variant name that tell it apart from its siblings ("$25", "green")."""
    others = {w for _, n in entry.variants if n != name for w in words(n)}
    return {w for w in words(name) if w not in others and w not in STOPWORDS and len(w) > 2}
