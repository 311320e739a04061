"""Per-variant sufficient statistics from the relational read model, in SQL.

The cost grows with the experiment's participants (an index range on ``assignments``),
not with the log: this is what the `postgresql` MCP server's analyses read.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from projections.relational.projection import SqlConnection

if TYPE_CHECKING:
    from domain.analysis import VariantSums

EXPOSED = "a.experiment_id = ? AND a.variant IS NOT NULL AND a.first_exposed_at IS NOT NULL"


def variant_sums(
    db: SqlConnection, prefix: str, experiment_key: str, ratios: list[tuple[str, str]]
) -> dict[str, VariantSums]:
    """variant -> users, per-metric sums and sums of squares over exposed users, the
    cross products of each ``(numerator, denominator)`` pair, and mismatched users."""
    from domain.analysis import VariantSums

    p = prefix
    counts = db.rows(
        "SELECT a.variant, COUNT(*), SUM(CASE WHEN a.mismatched > 0 THEN 1 ELSE 0 END) "
        f"FROM {p}assignments a WHERE {EXPOSED} GROUP BY a.variant",
        (experiment_key,),
    )
    if not counts:
        return {}
    sums: dict[str, dict[str, float]] = defaultdict(dict)
    squares: dict[str, dict[str, float]] = defaultdict(dict)
    for variant, metric, total, square in db.rows(
        "SELECT a.variant, m.metric, SUM(m.value), SUM(m.value * m.value) "
        f"FROM {p}user_metrics m JOIN {p}assignments a "
        "ON a.participation_id = m.participation_id "
        f"WHERE {EXPOSED} GROUP BY a.variant, m.metric",
        (experiment_key,),
    ):
        sums[variant][metric] = float(total)
        squares[variant][metric] = float(square)
    products: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for numerator, denominator in ratios:
        for variant, total in db.rows(
            "SELECT a.variant, SUM(n.value * d.value) "
            f"FROM {p}user_metrics n JOIN {p}user_metrics d "
            "ON d.participation_id = n.participation_id AND d.metric = ? "
            f"JOIN {p}assignments a ON a.participation_id = n.participation_id "
            f"WHERE n.metric = ? AND {EXPOSED} GROUP BY a.variant",
            (denominator, numerator, experiment_key),
        ):
            products[variant][(numerator, denominator)] = float(total)
    return {
        variant: VariantSums(
            users=int(users),
            sums=sums[variant],
            sums_of_squares=squares[variant],
            products={pair: products[variant].get(pair, 0.0) for pair in ratios},
            mismatched_users=int(mismatched or 0),
        )
        for variant, users, mismatched in counts
    }
