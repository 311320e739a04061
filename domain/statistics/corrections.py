"""Multiple-testing corrections across metrics x variants.

Both take p-values of any shape (e.g. metrics x variants) and return adjusted p-values
of the same shape; ``nan`` entries (failed comparisons) are ignored and stay ``nan``.

- Holm-Bonferroni (family-wise error rate): with sorted ``p_(1) <= ... <= p_(m)``,
  ``q_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
- Benjamini-Hochberg (false discovery rate): ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

CorrectionMethod = Literal["holm", "benjamini-hochberg"]


def _adjust_sorted(p_sorted: np.ndarray, method: CorrectionMethod) -> np.ndarray:
    m = p_sorted.size
    rank = np.arange(1, m + 1)
    if method == "holm":
        return np.minimum(np.maximum.accumulate((m - rank + 1) * p_sorted), 1.0)
    if method == "benjamini-hochberg":
        return np.minimum(np.minimum.accumulate((m * p_sorted / rank)[::-1])[::-1], 1.0)
    raise ValueError(f"unknown correction method {method!r}")


def adjust_p_values(p_values: object, method: CorrectionMethod = "holm") -> np.ndarray:
    """Adjusted p-values, same shape as ``p_values``."""
    p = np.asarray(p_values, dtype=float)
    flat = p.ravel()
    valid = np.flatnonzero(~np.isnan(flat))
    adjusted = np.full(flat.shape, np.nan)
    if valid.size:
        order = valid[np.argsort(flat[valid], kind="stable")]
        adjusted[order] = _adjust_sorted(flat[order], method)
    return adjusted.reshape(p.shape)


def holm_bonferroni(p_values: object) -> np.ndarray:
    """Holm step-down adjusted p-values."""
    return adjust_p_values(p_values, "holm")


def benjamini_hochberg(p_values: object) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (q-values)."""
    return adjust_p_values(p_values, "benjamini-hochberg")
