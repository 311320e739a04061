"""`AgentRunner.warm` loads the flows' modules, so a long-running process (`neonblue serve`)
does not make its first question wait for LangGraph and LangChain to import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
CHECK = """
import sys
from agents.runner import AgentRunner
flows = ("langgraph", "agents.analytics.graph", "agents.intelligence.runner", "agents.router.runner")
before = [m for m in flows if m in sys.modules]
AgentRunner(deps=None, servers={}).warm()
print(before, [m for m in flows if m not in sys.modules])
"""


def test_warm_loads_every_flow_that_importing_the_runner_does_not() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "[]"]  # none loaded before, none missing after
