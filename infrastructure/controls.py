"""Characters that change how text around them shows: a terminal's control codes (C0, DEL,
C1) and the bidirectional overrides and isolates that can reorder a line (U+202A-U+202E,
U+2066-U+2069, "Trojan Source"). Text users or producers wrote is shown with these
spelled as escapes, in the terminal and on the dashboard's pages."""

from __future__ import annotations

import re

from domain.experiments.checks import DIRECTION_OVERRIDES

CONTROL_POINTS = (*range(0x00, 0x20), *range(0x7F, 0xA0), *sorted(map(ord, DIRECTION_OVERRIDES)))


def escapes(keep: str = "") -> dict[int, str]:
    """A `str.translate` table spelling each control character (but ``keep``) as an escape."""
    return {
        c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
        for c in CONTROL_POINTS
        if chr(c) not in keep
    }


def pattern(keep: str = "") -> re.Pattern[str]:
    """The control characters (but ``keep``) as one character class."""
    return re.compile(
        "[" + "".join(re.escape(chr(c)) for c in CONTROL_POINTS if chr(c) not in keep) + "]"
    )
