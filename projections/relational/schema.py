"""Tables of the relational read model; one DDL for PostgreSQL and SQLite.

The seed's SQL runs on it unchanged::

    experiments e JOIN variants v ON e.id = v.experiment_id
    JOIN assignments a ON e.id = a.experiment_id JOIN users u ON a.user_id = u.user_id

``experiments.id`` is the experiment key (the wire format's ``experiment_id``).
``user_metrics`` holds each participant's total per metric over the events counted in the
analysis (not excluded as before exposure or after stop), in millionths (an exact integer,
`infrastructure.log_statistics.micros`): the per-user values whose sums and sums of squares
per variant are the sufficient statistics (`projections.relational.queries`).
"""

from __future__ import annotations

VERSION = 3
"""Bumped when a table changes: a model of another version is dropped and rebuilt."""

TABLES: dict[str, str] = {
    "experiments": """
        id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, name TEXT NOT NULL,
        hypothesis TEXT NOT NULL, description TEXT NOT NULL, owner TEXT NOT NULL,
        tags TEXT NOT NULL, status TEXT NOT NULL, coverage DOUBLE PRECISION NOT NULL,
        started_at TIMESTAMPTZ, stopped_at TIMESTAMPTZ, decision TEXT, winner TEXT,
        version BIGINT NOT NULL
    """,
    "variants": """
        experiment_id TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL,
        weight DOUBLE PRECISION NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (experiment_id, key)
    """,
    "metrics": """
        experiment_id TEXT NOT NULL, key TEXT NOT NULL, role TEXT NOT NULL, kind TEXT NOT NULL,
        numerator TEXT, denominator TEXT, higher_is_better BOOLEAN NOT NULL,
        margin DOUBLE PRECISION, PRIMARY KEY (experiment_id, key)
    """,
    "assignments": """
        participation_id TEXT PRIMARY KEY, experiment_id TEXT NOT NULL, user_id TEXT NOT NULL,
        variant TEXT, source TEXT NOT NULL, assigned_at TIMESTAMPTZ NOT NULL,
        first_exposed_at TIMESTAMPTZ, exposures INTEGER NOT NULL, metric_events INTEGER NOT NULL,
        mismatched INTEGER NOT NULL DEFAULT 0
    """,
    "user_metrics": """
        participation_id TEXT NOT NULL, metric TEXT NOT NULL, value_micros BIGINT NOT NULL,
        events INTEGER NOT NULL, PRIMARY KEY (participation_id, metric)
    """,
    "users": """
        user_id TEXT PRIMARY KEY, first_seen_at TIMESTAMPTZ NOT NULL,
        experiments INTEGER NOT NULL
    """,
    "daily_participation": """
        experiment_id TEXT NOT NULL, day DATE NOT NULL, variant TEXT NOT NULL,
        enrolled INTEGER NOT NULL, exposed INTEGER NOT NULL, metric_events INTEGER NOT NULL,
        PRIMARY KEY (experiment_id, day, variant)
    """,
    "projection_positions": "name TEXT PRIMARY KEY, position BIGINT NOT NULL",
}

INDEXES = (
    "CREATE INDEX IF NOT EXISTS {i}assignments_experiment ON {s}assignments "
    "(experiment_id, variant)",
    "CREATE INDEX IF NOT EXISTS {i}assignments_user ON {s}assignments (user_id)",
)

ORDER = {
    "experiments": "id",
    "variants": "experiment_id, key",
    "metrics": "experiment_id, key",
    "assignments": "participation_id",
    "user_metrics": "participation_id, metric",
    "users": "user_id",
    "daily_participation": "experiment_id, day, variant",
}


def create_statements(prefix: str) -> list[str]:
    """DDL with table names prefixed by ``prefix``: ``"schema".`` on Postgres (index names
    are per schema there), a generation's ``g<N>_`` on SQLite (index names too)."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {prefix}{name} ({columns})" for name, columns in TABLES.items()
    ]
    index_prefix = "" if prefix.endswith(".") else prefix
    return statements + [index.format(s=prefix, i=index_prefix) for index in INDEXES]
