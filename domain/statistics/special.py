"""``scipy.special``, imported on first use.

Importing it costs about 0.3 s, which every CLI command that only renders results (or
prints its help) would pay at start; the first attribute read imports it, and each
function read is then kept on this object, so later reads are plain attribute lookups.
"""

from __future__ import annotations

from typing import Any


class _Special:
    def __getattr__(self, name: str) -> Any:
        from scipy import special

        value = getattr(special, name)
        setattr(self, name, value)
        return value


special: Any = _Special()
