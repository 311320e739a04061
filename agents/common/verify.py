"""Checks a model's prose against what the tools and the policy said, before anyone sees it.

Every number in the prose must match a number of the deterministic answer (or of the
facts behind it) within rounding; a claim of significance needs a significant result; an
action (ship, stop, extend, ...) must be the policy's decision, and with no decision no
action may be advised. Prose that gives instructions (approve, apply, ignore previous
instructions), carries control characters or is far longer than an answer is refused
outright. A non-empty list of problems means: show the deterministic answer.
"""

from __future__ import annotations

import re
from typing import Any

FRACTION = "fraction"
"""The unit of a fact that is a share: a lift, a bound, a conversion rate (0.101 reads as
10.1 %)."""

NUMBER = re.compile(r"(?<![\w.])[-+\u2212]?\$?(\d[\d,]*(?:\.\d+)?)\s*(%|percent\b)?")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
IDENTIFIER = re.compile(r"\b[\w$]*[a-z][\w$]*-[\w-]+\b|\b[a-z]+\d+\b|\bv\d+\b|\bp\d{2}\b", re.I)
SIGNIFICANT = re.compile(r"\bsignificant(ly)?\b|\b(clear )?winner\b|\bwon\b", re.I)
NEGATION = re.compile(
    r"\b(not|no|isn't|aren't|wasn't|weren't|without|lacks?|neither|nor|yet to|before)\b[^.;]{0,30}$"
    r"|\bin$",
    re.I,
)
ACTIONS = {
    "ship": r"ship|shipping|roll(?:ing)? (?:it )?out|launch",
    "stop": r"stop|stopping|roll(?:ing)? (?:it )?back|rollback|kill|halt",
    "extend": r"extend|extending|run (?:it )?longer",
    "continue": r"keep (?:it )?running|continue|continuing",
    "fix_srm": r"fix the sample ratio|pause",
    "reallocate": r"reallocat\w*|shift traffic",
}
ADVICE = re.compile(
    r"(^|\b(should|recommend\w*|suggest\w*|advise\w*|better to|time to|go ahead and|let's|"
    r"we can|you can|must|i'd|i would|need to|needs to|action:|decision:))\s*(\w+\s+){0,3}$",
    re.I,
)
INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\b[^.]{0,40}\b(instructions?|prompts?|rules)\b|"
    r"(^|[.;:,!?\n]\s*|\b(and|then|please|now|so)\s+)(approve|reject|apply|call)\b|"
    r"\bcall\s+(the\s+)?(apply|approve|reject|tool|function)\b",
    re.I,
)
"""Text addressed to someone to act: NeonBlue's answers state results, people decide."""
QUOTED = re.compile(r"'([^'\n]{3,200})'")
"""What an answer quotes: a question's instructions are reported as "Not done: '...'"."""
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""Control characters (terminal escapes, bidi overrides); line breaks and tabs are text."""
MAX_PROSE_CHARS = 4000
"""Longest prose checked (five sentences are far shorter); the checks' patterns cost more
than linear time on long text, so a longer reply is refused before any is run."""
SAY_NOT = re.compile(
    r"\b(not|don't|do not|never|no|avoid|rather than|instead of)\s+(\w+\s+){0,2}$", re.I
)


def numbers_in(text: str) -> list[tuple[float, int, bool]]:
    """(value, decimals, is_percent) of every number outside identifiers and dates."""
    cleaned = IDENTIFIER.sub(" ", DATE.sub(" ", text))
    found = []
    for match in NUMBER.finditer(cleaned):
        digits = match.group(1).replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        found.append((float(digits), decimals, bool(match.group(2))))
    return found


def _allowed(reference: str, facts: list[dict[str, Any]]) -> list[float]:
    values = [abs(v) for v, _, _ in numbers_in(reference)]
    for fact in facts:
        value = abs(float(fact["value"]))
        values += [value, value * 100] if fact.get("unit") == FRACTION else [value]
    return values


def _claims(text: str, pattern: re.Pattern[str], negation: re.Pattern[str]) -> list[str]:
    """Non-negated occurrences of ``pattern`` (each with its sentence start)."""
    claims = []
    for match in pattern.finditer(text):
        before = text[max(0, text.rfind(".", 0, match.start()) + 1) : match.start()]
        if not negation.search(before):
            claims.append(match.group(0))
    return claims


def actions_advised(text: str) -> set[str]:
    advised = set()
    for action, verbs in ACTIONS.items():
        for match in re.finditer(rf"\b({verbs})\b", text, re.I):
            start = max(text.rfind(".", 0, match.start()), text.rfind("!", 0, match.start())) + 1
            before = text[start : match.start()].strip()
            if SAY_NOT.search(before + " "):
                continue
            if not before or ADVICE.search(before + " "):
                advised.add(action)
    return advised


def verify(
    prose: str,
    reference: str,
    facts: list[dict[str, Any]],
    action: str | None,
    question: str = "",
) -> list[str]:
    """Problems of ``prose`` against the deterministic ``reference`` answer and ``facts``."""
    longest = max(MAX_PROSE_CHARS, 2 * len(reference))
    if len(prose) > longest:
        return [f"the reply is {len(prose):,} characters long (at most {longest:,})"]
    problems = []
    if CONTROL.search(prose):
        problems.append("contains control characters")
    unquoted = prose
    for quoted in set(QUOTED.findall(reference)):  # repeating the report is no instruction
        unquoted = unquoted.replace(quoted, " ")
    if INSTRUCTION.search(unquoted):
        problems.append("gives instructions (approve, apply, ignore previous instructions)")
    allowed = _allowed(f"{reference} {question}", facts)
    for value, decimals, percent in numbers_in(prose):
        tolerance = 0.5 * 10**-decimals + 1e-9
        if not any(abs(value - a) <= tolerance for a in allowed):
            problems.append(f"number {value:g}{'%' if percent else ''} is in no tool result")
    for day in DATE.findall(prose):
        if day not in reference and day not in question:
            problems.append(f"date {day} is in no tool result")
    if _claims(prose, SIGNIFICANT, NEGATION) and not _claims(reference, SIGNIFICANT, NEGATION):
        problems.append("claims significance where no result is significant")
    advised = actions_advised(prose)
    wrong = advised - ({action} if action else set())
    if wrong:
        expected = f"the policy's decision is {action}" if action else "no action was decided"
        problems.append(f"advises {', '.join(sorted(wrong))} but {expected}")
    return problems
