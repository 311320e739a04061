"""Benchmark: vectorised statistics engine vs a naive per-row scipy implementation.

Workload: 1,000 experiments x 3 variants (control + 2 treatments) x 5 metrics
(2 binomial, 2 mean, 1 ratio), each treatment compared with control as a relative lift
with a Welch t-test, CI and p-value. An "analysis" is one experiment (10 comparisons).
A second workload times quantile metrics from their sufficient statistics: the same
experiments with an event-level p90 and a per-user p50 (order-statistic bounds, cluster
sums), against a per-row scipy implementation of the same estimator.

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
    QuantileClusteredStatistic,
    QuantileStatistic,
    RatioStatistic,
    SampleMeanStatistic,
    analyze_arrays,
    analyze_experiment,
    clustered_quantile_moments,
    mean_moments,
    proportion_moments,
    quantile_moments,
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


def make_quantile_rows(experiments: int, seed: int = 1) -> dict[str, np.ndarray]:
    """What the quantile query returns per (experiment, variant): bounds and cluster sums."""
    rng = np.random.default_rng(seed)
    shape = (experiments, VARIANTS)
    users = rng.integers(5_000, 50_000, size=shape).astype(float)
    events = np.round(users * rng.uniform(2.5, 3.5, shape))
    q = rng.normal(600, 10, shape)
    spread = 1.2e6 / np.sqrt(events) / 600 * rng.normal(1, 0.05, shape)
    below = np.round(0.9 * events)
    return {
        "n": events, "q": q, "lower": q - spread, "upper": q + spread, "users": users,
        "below": below, "below_sq": below * 3.4, "events": events, "events_sq": events * 3.8,
        "products": below * 3.6, "user_n": users, "user_q": q / 3, "user_lower": q / 3 - 4,
        "user_upper": q / 3 + 4,
    }  # fmt: skip


def quantile_arrays(rows: dict[str, np.ndarray]) -> ArmMoments:
    p90 = clustered_quantile_moments(
        rows["n"], 0.9, rows["q"], rows["lower"], rows["upper"], rows["users"], rows["below"],
        rows["below_sq"], rows["events"], rows["events_sq"], rows["products"],
    )  # fmt: skip
    p50 = quantile_moments(
        rows["user_n"], 0.5, rows["user_q"], rows["user_lower"], rows["user_upper"]
    )
    return stack_moments([p90, p50])  # (metric, experiment, variant)


def run_quantiles_vectorised(rows: dict[str, np.ndarray]) -> np.ndarray:
    stacked = quantile_arrays(rows)
    control = stacked.take((slice(None), slice(None), slice(0, 1)))
    treatments = stacked.take((slice(None), slice(None), slice(1, None)))
    return analyze_arrays(control, treatments, OPTIONS).p_value


def quantile_statistics_at(rows: dict[str, np.ndarray], e: int, v: int):
    at = {key: float(value[e, v]) for key, value in rows.items()}
    p90 = QuantileClusteredStatistic(
        int(at["n"]), 0.9, at["q"], at["lower"], at["upper"], int(at["users"]), at["below"],
        at["below_sq"], at["events"], at["events_sq"], at["products"],
    )  # fmt: skip
    p50 = QuantileStatistic(
        int(at["user_n"]), 0.5, at["user_q"], at["user_lower"], at["user_upper"]
    )
    return p90, p50


def run_quantiles_per_experiment(rows: dict[str, np.ndarray]) -> np.ndarray:
    experiments = rows["n"].shape[0]
    out = np.empty((2, experiments, VARIANTS - 1))
    for e in range(experiments):
        arms = [quantile_statistics_at(rows, e, v) for v in range(VARIANTS)]
        for m in range(2):
            results = analyze_experiment(arms[0][m], [a[m] for a in arms[1:]], OPTIONS)
            out[m, e] = [r.p_value for r in results]
    return out


def naive_quantile(rows: dict[str, np.ndarray], m: int, e: int, v: int) -> tuple[float, ...]:
    """(units, quantile, Var(quantile)) with scipy's normal quantile, one row at a time."""
    z = stats.norm.ppf(0.975)
    if m == 1:
        n, q = rows["user_n"][e, v], rows["user_q"][e, v]
        return n, q, ((rows["user_upper"][e, v] - rows["user_lower"][e, v]) / (2 * z)) ** 2
    n, users = rows["n"][e, v], rows["users"][e, v]
    iid = ((rows["upper"][e, v] - rows["lower"][e, v]) / (2 * z)) ** 2
    ms, md = rows["below"][e, v] / users, rows["events"][e, v] / users
    vs = (rows["below_sq"][e, v] - users * ms**2) / (users - 1)
    vd = (rows["events_sq"][e, v] - users * md**2) / (users - 1)
    cov = (rows["products"][e, v] - users * ms * md) / (users - 1)
    share = ms / md
    clustered = (vs - 2 * share * cov + share**2 * vd) / (users * md**2)
    return users, rows["q"][e, v], iid * clustered / (0.9 * 0.1 / n)


def run_quantiles_naive(rows: dict[str, np.ndarray]) -> np.ndarray:
    experiments = rows["n"].shape[0]
    out = np.empty((2, experiments, VARIANTS - 1))
    for m in range(2):
        for e in range(experiments):
            n_c, q_c, var_c = naive_quantile(rows, m, e, 0)
            for v in range(1, VARIANTS):
                n_t, q_t, var_t = naive_quantile(rows, m, e, v)
                lift = q_t / q_c - 1
                se = np.sqrt(var_t / q_c**2 + var_c * q_t**2 / q_c**4)
                a, b = var_t, var_c
                dof = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
                out[m, e, v - 1] = 2 * stats.t.sf(abs(lift / se), dof)
    return out


def report(title: str, analyses: int, comparisons: int, timings: list[tuple[str, float]]) -> None:
    print(title)
    for label, seconds in timings:
        print(
            f"{label:38s} {seconds * 1e3:9.1f} ms  {analyses / seconds:12,.0f} analyses/s"
            f"  {comparisons / seconds:14,.0f} comparisons/s"
        )
    print(f"speed-up vectorised / naive scipy: {timings[2][1] / timings[0][1]:,.0f}x")


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

    report(
        f"workload: {experiments} experiments x {VARIANTS} variants x {len(rows)} metrics "
        f"= {comparisons} comparisons",
        experiments,
        comparisons,
        [
            ("vectorised (analyze_arrays)", vec_time),
            ("per-row engine (analyze_experiment)", api_time),
            ("naive per-row scipy", naive_time),
        ],
    )

    quantile_rows = make_quantile_rows(experiments)
    q_comparisons = experiments * (VARIANTS - 1) * 2
    q_vec_time, q_vec_p = timed(run_quantiles_vectorised, quantile_rows, max(repeats, 5))
    q_api_time, q_api_p = timed(run_quantiles_per_experiment, quantile_rows, 1)
    q_naive_time, q_naive_p = timed(run_quantiles_naive, quantile_rows, 1)
    assert np.allclose(q_vec_p, q_naive_p, rtol=1e-7, atol=1e-12), "quantiles: != naive"
    assert np.allclose(q_vec_p, q_api_p, rtol=1e-9, atol=1e-12), "quantiles: != per-row API"
    report(
        f"quantiles: {experiments} experiments x {VARIANTS} variants x 2 quantile metrics "
        f"(event-level p90, per-user p50) = {q_comparisons} comparisons",
        experiments,
        q_comparisons,
        [
            ("vectorised (analyze_arrays)", q_vec_time),
            ("per-row engine (analyze_experiment)", q_api_time),
            ("naive per-row scipy", q_naive_time),
        ],
    )


if __name__ == "__main__":
    main()
