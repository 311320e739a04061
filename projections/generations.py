"""Generations of a read model: the live one, copies being built, leftovers.

A rebuild writes a new generation beside the live one and makes it live in one step
(a transaction, or one registry write); the previous generation is collected afterwards
by whatever runs next (`collect`), so a kill at any moment leaves the model consistent
and, at worst, leftovers that `neonblue projections status` lists and `gc` removes.

A writer that finds its generation retired under it raises `GenerationChanged` before
writing anything; the projection has then moved to the live generation and the runner
resumes from that generation's position.
"""

from __future__ import annotations

import os
import signal
import socket
from dataclasses import dataclass

BUILDING, LIVE, RETIRED = "building", "live", "retired"
CRASH_AT = "NEONBLUE_CRASH_AT"
"""``<model>:<step>`` makes the process SIGKILL itself at that step (tests of kill -9)."""


class GenerationChanged(Exception):
    """The generation a projection wrote to was switched away; nothing was written and
    the projection now points at the live generation."""


@dataclass(frozen=True)
class Generation:
    """One copy of a read model."""

    model: str
    name: str  # table prefix, schema, database or collection
    state: str  # building | live | retired | orphan
    size_bytes: int
    owner: str = ""  # host:pid of the process building it

    @property
    def leftover(self) -> bool:
        """Neither live nor being built by a process that is still running."""
        return self.state != LIVE and not (self.state == BUILDING and owner_alive(self.owner))

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.model,
            "name": self.name,
            "state": self.state,
            "size_bytes": self.size_bytes,
            "owner": self.owner,
            "leftover": self.leftover,
        }


def owner() -> str:
    """This process, as recorded on the generations it builds."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_alive(recorded: str) -> bool:
    """Whether the process that recorded ``recorded`` still runs (assumed so on another
    host: `gc --force` removes those)."""
    host, _, pid = recorded.rpartition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def crash_point(model: str, step: str) -> None:
    """SIGKILLs this process when ``NEONBLUE_CRASH_AT`` names this step (tests only)."""
    if os.environ.get(CRASH_AT) == f"{model}:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


class GenerationRemoved(RuntimeError):
    """The copy being built was removed (e.g. `neonblue projections gc --force`)."""
