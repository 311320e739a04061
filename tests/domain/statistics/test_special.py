"""scipy.special is imported on first use, not by importing the statistics package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from scipy import special as scipy_special

from domain.statistics.quantiles import BOUND_Z
from domain.statistics.special import special

ROOT = Path(__file__).resolve().parents[3]


def test_the_lazy_module_gives_scipys_functions() -> None:
    assert special.stdtr is scipy_special.stdtr
    assert special.ndtri(0.975) == scipy_special.ndtri(0.975)


def test_the_quantile_bound_is_scipys_value() -> None:
    assert float(scipy_special.ndtri(0.975)) == BOUND_Z


def test_commands_that_only_render_results_do_not_import_scipy() -> None:
    probe = "import sys, infrastructure.cli, domain.analysis; print('scipy.special' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
