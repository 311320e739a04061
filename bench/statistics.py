"""Benchmark: vectorised statistics engine vs a naive per-row scipy implementation.

Workload: 1,000 experiments x 3 variants (control + 2 treatments) x 5 metrics
(2 binomial, 2 mean, 1 ratio), each treatment compared with control as a relative lift
with a Welch t-test, CI and p-value. An "analysis" is one experiment (10 comparisons).

    python bench/statistics.py            # full workload
    python bench/statistics.py --quick    # 100 experiments, one repeat
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domain.statistics import (
    AnalysisOptions,
    ArmMoments,
    ProportionStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    analyze_arrays,
    analyze_experiment,
    mean_moments,
    proportion_moments,
    ratio_moments,
    stack_moments,
)

VARIANTS = 3
OPTIONS = AnalysisOptions(engine="frequentist", difference_type="relative")


def make_rows(experiments: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """GROUP BY rows as arrays of shape (experiments, variants) per metric."""
    rng = np.random.default_rng(seed)
    n = rng.integers(5_000, 50_000, size=(experiments, VARIANTS)).astype(float)
    rows: dict[str, dict[str, np.ndarray]] = {}
    for metric, rate in (("conversion", 0.1), ("retention", 0.4)):
        rows[metric] = {"kind": "proportion", "n": n, "sum": rng.binomial(n.astype(int), rate)}
    for metric, mean in (("revenue", 12.0), ("pageviews", 4.0)):
        total = n * mean * rng.normal(1, 0.01, n.shape)
        squares = n * (mean**2 + (2 * mean) ** 2) * rng.normal(1, 0.01, n.shape)
        rows[metric] = {"kind": "mean", "n": n, "sum": total, "sum_squares": squares}
    d_sum = n * 3.0 * rng.normal(1, 0.01, n.shape)
    m_sum = d_sum * 2.0 * rng.normal(1, 0.01, n.shape)
    rows["revenue_per_session"] = {
        "kind": "ratio",
        "n": n,
        "m_sum": m_sum,
        "m_sum_squares": n * 60.0,
        "d_sum": d_sum,
        "d_sum_squares": n * 12.0,
        "m_d_sum_of_products": n * 24.0,
    }
    return rows


def moments_of(row: dict[str, np.ndarray]) -> ArmMoments:
    if row["kind"] == "proportion":
        return proportion_moments(row["n"], row["sum"])
    if row["kind"] == "mean":
        return mean_moments(row["n"], row["sum"], row["sum_squares"])
    return ratio_moments(
        row["n"],
        row["m_sum"],
        row["m_sum_squares"],
        row["d_sum"],
        row["d_sum_squares"],
        row["m_d_sum_of_products"],
    )


def run_vectorised(rows: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """One stacked array call over every experiment, variant and metric."""
    stacked = stack_moments([moments_of(row) for row in rows.values()])  # (metric, exp, var)
    control = stacked.take((slice(None), slice(None), slice(0, 1)))
    treatments = stacked.take((slice(None), slice(None), slice(1, None)))
    return analyze_arrays(control, treatments, OPTIONS).p_value


def statistic_at(row: dict[str, np.ndarray], e: int, v: int):
    n = int(row["n"][e, v])
    if row["kind"] == "proportion":
        return ProportionStatistic(n, float(row["sum"][e, v]))
    if row["kind"] == "mean":
        return SampleMeanStatistic(n, float(row["sum"][e, v]), float(row["sum_squares"][e, v]))
    return RatioStatistic(
        n,
        SampleMeanStatistic(n, float(row["m_sum"][e, v]), float(row["m_sum_squares"][e, v])),
        SampleMeanStatistic(n, float(row["d_sum"][e, v]), float(row["d_sum_squares"][e, v])),
        float(row["m_d_sum_of_products"][e, v]),
    )


def run_per_experiment(rows: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """The dataclass API: one analyze_experiment call per experiment and metric."""
    experiments = next(iter(rows.values()))["n"].shape[0]
    out = np.empty((len(rows), experiments, VARIANTS - 1))
    for m, row in enumerate(rows.values()):
        for e in range(experiments):
            treatments = [statistic_at(row, e, v) for v in range(1, VARIANTS)]
            results = analyze_experiment(statistic_at(row, e, 0), treatments, OPTIONS)
            out[m, e] = [r.p_value for r in results]
    return out


def naive_moments(row: dict[str, np.ndarray], e: int, v: int) -> tuple[float, float, float]:
    n = float(row["n"][e, v])
    if row["kind"] == "proportion":
        p = float(row["sum"][e, v]) / n
        return n, p, p * (1 - p)
    if row["kind"] == "mean":
        mean = float(row["sum"][e, v]) / n
        return n, mean, (float(row["sum_squares"][e, v]) - n * mean**2) / (n - 1)
    mm, md = float(row["m_sum"][e, v]) / n, float(row["d_sum"][e, v]) / n
    vm = (float(row["m_sum_squares"][e, v]) - n * mm**2) / (n - 1)
    vd = (float(row["d_sum_squares"][e, v]) - n * md**2) / (n - 1)
    cov = (float(row["m_d_sum_of_products"][e, v]) - n * mm * md) / (n - 1)
    r = mm / md
    return n, r, (vm - 2 * r * cov + r * r * vd) / md**2


def run_naive(rows: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """Per-row scipy: relative lift, delta-method variance, scipy t distribution."""
    experiments = next(iter(rows.values()))["n"].shape[0]
    out = np.empty((len(rows), experiments, VARIANTS - 1))
    for m, row in enumerate(rows.values()):
        for e in range(experiments):
            n_c, mean_c, var_c = naive_moments(row, e, 0)
            for v in range(1, VARIANTS):
                n_t, mean_t, var_t = naive_moments(row, e, v)
                lift = mean_t / mean_c - 1
                se = np.sqrt(var_t / (n_t * mean_c**2) + var_c * mean_t**2 / (n_c * mean_c**4))
                a, b = var_t / n_t, var_c / n_c
                dof = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
                width = stats.t.ppf(0.975, dof) * se
                _ci = (lift - width, lift + width)
                out[m, e, v - 1] = 2 * stats.t.sf(abs(lift / se), dof)
    return out


def timed(function, rows, repeats: int) -> tuple[float, np.ndarray]:
    best = float("inf")
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(rows)
        best = min(best, time.perf_counter() - start)
    return best, result  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 experiments, one repeat")
    args = parser.parse_args()
    experiments = 100 if args.quick else 1_000
    repeats = 1 if args.quick else 3
    rows = make_rows(experiments)
    comparisons = experiments * (VARIANTS - 1) * len(rows)

    vec_time, vec_p = timed(run_vectorised, rows, max(repeats, 5))
    api_time, api_p = timed(run_per_experiment, rows, 1)
    naive_time, naive_p = timed(run_naive, rows, 1)
    assert np.allclose(vec_p, naive_p, rtol=1e-7, atol=1e-12), "vectorised != naive"
    assert np.allclose(vec_p, api_p, rtol=1e-9, atol=1e-12), "vectorised != per-row API"

    print(
        f"workload: {experiments} experiments x {VARIANTS} variants x {len(rows)} metrics "
        f"= {comparisons} comparisons"
    )
    for label, seconds in (
        ("vectorised (analyze_arrays)", vec_time),
        ("per-row engine (analyze_experiment)", api_time),
        ("naive per-row scipy", naive_time),
    ):
        print(
            f"{label:38s} {seconds * 1e3:9.1f} ms  {experiments / seconds:12,.0f} analyses/s"
            f"  {comparisons / seconds:14,.0f} comparisons/s"
        )
    print(f"speed-up vectorised / naive scipy: {naive_time / vec_time:,.0f}x")


if __name__ == "__main__":
    main()
