"""Per-variant sufficient statistics from the relational read model, in SQL.

The cost grows with the experiment's participants (an index range on ``assignments``),
not with the log: this is what the `postgresql` MCP server's analyses read.

Per-user totals are integers (millionths); their sums, squares and cross products are
summed exactly (Postgres ``numeric``; on SQLite, whose integers are 64-bit, squares and
products go through an exact aggregate) and each becomes a float once, correctly rounded
(`infrastructure.log_statistics.exact_float`): the same bits as the audit replay whatever
the order of the rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING

from infrastructure.log_statistics import MICROS, exact_float
from projections.relational.projection import SqlConnection

if TYPE_CHECKING:
    from domain.analysis import VariantSums

EXPOSED = "a.experiment_id = ? AND a.variant IS NOT NULL AND a.first_exposed_at IS NOT NULL"


def variant_sums(
    db: SqlConnection,
    prefix: str,
    experiment_key: str,
    ratios: list[tuple[str, str]],
    period_starts: Sequence[datetime] = (),
) -> dict[str, VariantSums]:
    """variant -> users, per-metric sums and sums of squares over exposed users, the
    cross products of each ``(numerator, denominator)`` pair, mismatched users, and users
    by the allocation period of their first exposure (periods from ``period_starts``)."""
    from domain.analysis import VariantSums

    p = prefix
    product = _exact_products(db)
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
        f"SELECT a.variant, m.metric, SUM(m.value_micros), "
        f"{product.format(x='m.value_micros', y='m.value_micros')} "
        f"FROM {p}user_metrics m JOIN {p}assignments a "
        "ON a.participation_id = m.participation_id "
        f"WHERE {EXPOSED} GROUP BY a.variant, m.metric",
        (experiment_key,),
    ):
        sums[variant][metric] = exact_float(int(total))
        squares[variant][metric] = exact_float(int(square), MICROS**2)
    products: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    for numerator, denominator in ratios:
        for variant, total in db.rows(
            f"SELECT a.variant, {product.format(x='n.value_micros', y='d.value_micros')} "
            f"FROM {p}user_metrics n JOIN {p}user_metrics d "
            "ON d.participation_id = n.participation_id AND d.metric = ? "
            f"JOIN {p}assignments a ON a.participation_id = n.participation_id "
            f"WHERE n.metric = ? AND {EXPOSED} GROUP BY a.variant",
            (denominator, numerator, experiment_key),
        ):
            products[variant][(numerator, denominator)] = exact_float(int(total), MICROS**2)
    by_period = _users_by_period(db, p, experiment_key, period_starts)
    return {
        variant: VariantSums(
            users=int(users),
            sums=sums[variant],
            sums_of_squares=squares[variant],
            products={pair: products[variant].get(pair, 0.0) for pair in ratios},
            mismatched_users=int(mismatched or 0),
            users_by_period=by_period.get(variant, ()),
        )
        for variant, users, mismatched in counts
    }


def _users_by_period(
    db: SqlConnection, p: str, experiment_key: str, starts: Sequence[datetime]
) -> dict[str, tuple[int, ...]]:
    """variant -> exposed users first exposed in each period (none when no ``starts``).
    SQLite holds times as ISO text with any UTC offset: compared as Julian days."""
    if not starts:
        return {}
    later = (
        "a.first_exposed_at >= ?"
        if db.postgres
        else "julianday(a.first_exposed_at) >= julianday(?)"
    )
    columns = ", ".join(f"SUM(CASE WHEN {later} THEN 1 ELSE 0 END)" for _ in starts)
    params = [s if db.postgres else s.isoformat() for s in starts]
    found = {}
    for variant, users, *from_each in db.rows(
        f"SELECT a.variant, COUNT(*), {columns} FROM {p}assignments a "
        f"WHERE {EXPOSED} GROUP BY a.variant",
        (*params, experiment_key),
    ):
        at_or_after = [int(users), *map(int, from_each), 0]
        found[variant] = tuple(a - b for a, b in pairwise(at_or_after))
    return found


def _exact_products(db: SqlConnection) -> str:
    """SQL for the exact sum of ``{x} * {y}`` over integers, as an integer or its text."""
    if db.postgres:
        return "SUM({x}::numeric * {y})"
    db.connection.create_aggregate("exact_product_sum", 2, _ExactProductSum)  # microseconds
    return "exact_product_sum({x}, {y})"


class _ExactProductSum:
    """SQLite aggregate: the sum of products of integers, exactly (as text: it may
    exceed 64 bits)."""

    def __init__(self) -> None:
        self.total = 0

    def step(self, x: int, y: int) -> None:
        self.total += x * y

    def finalize(self) -> str:
        return str(self.total)
