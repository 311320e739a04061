"""Paths in settings are made absolute when read: a child process (a stdio MCP server,
`neonblue serve`) started from another working directory must open the same stores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator


def absolute(path: Path) -> Path:
    return path.expanduser().absolute()


AbsolutePath = Annotated[Path, AfterValidator(absolute)]
