"""Slot extractors of the deterministic planner: each reads one kind of value from text.

Every number a question names is bounded here; an out-of-range value becomes a message in
the plan's ``problems`` (the rest of the question is still answered), never an exception.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from agents.analytics.plan import (
    EARLIEST,
    LATEST,
    MAX_HORIZON_DAYS,
    MAX_LIFT,
    MAX_PERIOD_DAYS,
    TimeRange,
)

INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|above|"
    r"previous|everything)\b|\b(system prompt|you are now|act as|jailbreak)\b|"
    r"^(please\s+)?(approve|reject|ship|stop|pause|resume|start|delete|drop|conclude|apply|"
    r"store|record|write|update|change|set|reallocate|allocate|remove)\b|"
    r"\b(approve|reject)\b.{0,20}\b(all|every|recommendations?|them|it)\b",
)
LEADING = re.compile(r"^(also|and|then|now|oh|btw|ps|next|finally)\b[,:]?\s*")
SENTENCE = re.compile(
    r"(?<=[.!?;])\s+|\n+|\s*(?:,|\band\b|\bthen\b)\s+(?=(?:please\s+)?(?:approve|reject|ignore|"
    r"disregard|forget|delete|conclude|apply|reallocate)\b)",
    re.IGNORECASE,
)


def split_instructions(question: str) -> tuple[str, list[str]]:
    """(the question without instruction sentences, the sentences dropped)."""
    kept, ignored = [], []
    for sentence in SENTENCE.split(question.strip()):
        core = LEADING.sub("", sentence.strip().lower())
        if core and INSTRUCTION.search(core):
            ignored.append(sentence.strip())
        elif sentence.strip():
            kept.append(sentence.strip())
    return " ".join(kept), ignored


USER = re.compile(
    r"\buser(?:\s+id)?\s+(?!(?:segments?|ids?|groups?|base|journeys?|experience|behaviou?rs?|"
    r"get|gets|see|sees|is|in|of|with)\b)[\"'`]?([^\s\"'`]+)",
    re.IGNORECASE,
)


def user_ids(text: str) -> list[str]:
    """User ids exactly as written (``auth0|5f7c1``), without trailing punctuation."""
    return [
        m.group(1).rstrip("?.,!;:)") for m in USER.finditer(text) if m.group(1).rstrip("?.,!;:)")
    ]


NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "six": 6, "a": 1, "an": 1}
UNIT_DAYS = {"day": 1, "week": 7, "fortnight": 14, "month": 30, "quarter": 91, "year": 365}
AMOUNT = r"(\d{1,12}|one|two|three|four|six|a|an)"
HORIZON = re.compile(
    rf"\b(?:next|coming|over the next|in the next|for the next|within)\s+{AMOUNT}?\s*"
    r"(day|week|fortnight|month|quarter|year)s?\b|\bin\s+(\d{1,12})\s+(day|week)s?\b"
)


def _amount(text: str | None) -> int:
    if not text:
        return 1
    return NUMBER_WORDS.get(text, 0) or int(text)


BACKWARD_HORIZON = re.compile(
    r"\b(?:next|coming|over the next|in the next|for the next|within|in)\s+(-\s*\d+\s*"
    r"(?:day|week|fortnight|month|quarter|year)s?)\b"
)
AS_OF = re.compile(r"\b(as (?:of|at)\s+(?!now\b|today\b|right now\b|the moment\b)[^?.!,;]+)")


def horizon(lowered: str) -> tuple[int | None, str | None]:
    """(days ahead, problem) of "next 14 days", "next week", "in 3 weeks"."""
    match = HORIZON.search(lowered)
    if not match:
        backward = BACKWARD_HORIZON.search(lowered)
        if backward:
            return None, (
                f"Forecasts look ahead; '{backward.group(1)}' is not a number of days ahead, "
                "so no forecast was made for it."
            )
        return None, None
    count, unit = (match.group(1), match.group(2)) if match.group(2) else match.group(3, 4)
    days = _amount(count) * UNIT_DAYS[unit]
    if not 1 <= days <= MAX_HORIZON_DAYS:
        return None, (
            f"Forecasts reach at most {MAX_HORIZON_DAYS} days ahead; the question asks for "
            f"{days:,} days, so no forecast was made for that horizon."
        )
    return days, None


THRESHOLD = re.compile(
    r"(more than|over|above|at least|greater than|>=?|by|exceeding|beyond)\s*(-?\d+(?:\.\d+)?)\s*(%|percent\b)"
)


def min_lift(lowered: str) -> tuple[float | None, str | None]:
    match = THRESHOLD.search(lowered)
    if not match:
        return None, None
    value = float(match.group(2)) / 100
    if abs(value) > MAX_LIFT:
        return None, (
            f"A lift threshold of {match.group(2)}% is out of range (at most "
            f"{MAX_LIFT:.0%}); the threshold was not applied."
        )
    return value, None


ISO = r"(\d{4}-\d{2}-\d{2})"
MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip


def _parse_day(text: str) -> date:
    return date.fromisoformat(text)


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def as_of(lowered: str) -> str | None:
    """A problem when the question asks for an answer as of another time: answers are as
    of now (the audit replay answers as of a time)."""
    match = AS_OF.search(lowered)
    if not match:
        return None
    return (
        f"Answers are as of now; '{match.group(1).strip()}' was not applied "
        "(`neonblue audit replay KEY --as-of TIME` answers as of a time)."
    )


def time_range(lowered: str, today: date) -> tuple[TimeRange | None, str | None]:
    """The period a question names (of experiment starts), or a problem message."""
    try:
        return _time_range(lowered, today)
    except (ValueError, OverflowError):
        return None, (
            f"That period is out of range: dates go from {EARLIEST} to {LATEST} and "
            f"look-backs at most {MAX_PERIOD_DAYS:,} days; no period filter was applied."
        )


def _time_range(lowered: str, today: date) -> tuple[TimeRange | None, str | None]:
    between = re.search(rf"\b(?:between|from)\s+{ISO}\s+(?:and|to|until)\s+{ISO}", lowered)
    if between:
        since, until = _parse_day(between.group(1)), _parse_day(between.group(2))
        if since > until:
            since, until = until, since
        return _bounded(TimeRange(since=since, until=until, phrase=between.group(0)))
    since = re.search(rf"\b(?:since|after|from)\s+{ISO}", lowered)
    if since:
        return _bounded(TimeRange(since=_parse_day(since.group(1)), phrase=since.group(0)))
    if match := re.search(r"\b(last|previous|past|this|current)\s+quarter\b", lowered):
        start = _quarter_start(today)
        if match.group(1) in ("this", "current"):
            return TimeRange(since=start, until=today, phrase=match.group(0)), None
        end = start - timedelta(days=1)
        return TimeRange(since=_quarter_start(end), until=end, phrase=match.group(0)), None
    if match := re.search(
        rf"\b(?:last|past|previous)\s+{AMOUNT}?\s*(day|week|month|year)s?\b", lowered
    ):
        count = _amount(match.group(1))
        days = count * UNIT_DAYS[match.group(2)]
        if days > MAX_PERIOD_DAYS:
            return None, (
                f"Periods go back at most {MAX_PERIOD_DAYS:,} days (ten years); "
                f"'{match.group(0)}' is {days:,} days, so no period filter was applied."
            )
        return TimeRange(
            since=today - timedelta(days=days), until=today, phrase=match.group(0)
        ), None
    if match := re.search(r"\b(?:this|current)\s+(month|year)\b", lowered):
        start = today.replace(day=1) if match.group(1) == "month" else date(today.year, 1, 1)
        return TimeRange(since=start, until=today, phrase=match.group(0)), None
    if match := re.search(rf"\bin\s+({'|'.join(MONTHS)})(?:\s+(\d{{4}}))?\b", lowered):
        month = MONTHS.index(match.group(1)) + 1
        year = int(match.group(2)) if match.group(2) else today.year
        if not match.group(2) and month > today.month:
            year -= 1
        start = date(year, month, 1)
        end = (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)
        return _bounded(TimeRange(since=start, until=end, phrase=match.group(0)))
    if match := re.search(r"\bin\s+(\d{4})\b", lowered):
        year = int(match.group(1))
        return _bounded(
            TimeRange(since=date(year, 1, 1), until=date(year, 12, 31), phrase=match.group(0))
        )
    return None, None


def _bounded(found: TimeRange) -> tuple[TimeRange | None, str | None]:
    for day in (found.since, found.until):
        if day is not None and not EARLIEST <= day <= LATEST:
            return None, (
                f"'{found.phrase}' is outside {EARLIEST}..{LATEST}; no period filter was applied."
            )
    return found, None


DIMENSIONS = {
    "device": ("device", "devices", "platform", "platforms"),
    "country": ("country", "countries", "market", "markets", "region", "regions", "geo"),
}
SEGMENT_VALUES = {
    "device": {"mobile": "mobile", "desktop": "desktop", "tablet": "tablet", "tablets": "tablet"},
    "country": {
        "united states": "US", "usa": "US", "america": "US", "us": "US",
        "united kingdom": "GB", "uk": "GB", "britain": "GB", "gb": "GB",
        "germany": "DE", "india": "IN", "brazil": "BR",
    },
}  # fmt: skip
CASE_SENSITIVE = {"us", "gb"}  # country codes that are also words: only in capitals


def segments(text: str, taken: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """(dimensions named, segment filters) outside the words ``taken`` by experiment names."""
    lowered = text.lower()
    dimensions = [
        dim
        for dim, names in DIMENSIONS.items()
        if any(re.search(rf"\b{n}\b", lowered) for n in names)
    ]
    filters: dict[str, list[str]] = {}
    for dim, values in SEGMENT_VALUES.items():
        for phrase, value in values.items():
            if phrase in taken:
                continue
            source = text if phrase in CASE_SENSITIVE else lowered
            wanted = phrase.upper() if phrase in CASE_SENSITIVE else phrase
            if re.search(rf"\b{re.escape(wanted)}\b", source) and value not in filters.get(dim, []):
                filters.setdefault(dim, []).append(value)
    return dimensions, filters
