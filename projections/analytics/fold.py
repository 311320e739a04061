"""The analytics fold in ClickHouse SQL: one batch of stored participation events -> rows.

The projection inserts each batch's stored events as they are (position, participation
id, topic, JSON state) into the Memory table ``batch_events``, whose materialised
columns parse the JSON once; the statements below then derive every table inside the
engine, so no per-event Python runs. ``batch_users`` holds, for the participations of the
batch, their state before it (latest ``user_metrics`` row) or a blank row for those enrolled in
it. Events at or below a participation's stored position are already counted, so a batch
replayed after a crash (rows written, position not) changes nothing. Statements run in
the order below: a participation's ``user_metrics`` row, which marks its events as
counted, is written last. Values are summed as integers in millionths (``value_micros``,
rounded half to even as `infrastructure.log_statistics.micros` does), so a sum does not
depend on batch boundaries or on the order the engine merges rows in. The JSON is read as version 1 of the participation events wrote
it (no upcasting here; a test guards that they are still at version 1).
"""

from __future__ import annotations

from projections.log import ENROLLED, EXPOSED, METRIC_RECORDED, VARIANT_MISMATCH

for _topic in (ENROLLED, EXPOSED, METRIC_RECORDED, VARIANT_MISMATCH):
    assert "'" not in _topic and "\\" not in _topic  # embedded in the DDL below


def _field(kind: str, name: str, topic: str) -> str:
    """A top-level field of the state, parsed only for events of ``topic``."""
    default = "0" if kind == "Float" else "''"
    return f"if(topic = '{topic}', simpleJSONExtract{kind}(state, '{name}'), {default})"


# The simpleJSON* functions (several times faster than parsing) find the first occurrence
# of a key at any depth, which is the top-level one because the event classes declare their
# free-form field (``context``, which carries wire data) last and their other nested values
# are {"_type_", "_data_"} datetimes; the segment is parsed properly out of the context.
# tests/projections/test_analytics.py plants decoys to check this.
BATCH_TABLES = (
    f"""
    CREATE TABLE IF NOT EXISTS {{db}}.batch_events (
        position UInt64, participation_id String, topic String, state String,
        experiment_key String MATERIALIZED {_field("String", "experiment_key", ENROLLED)},
        user_id String MATERIALIZED {_field("String", "user_id", ENROLLED)},
        variant String MATERIALIZED {_field("String", "variant", ENROLLED)},
        source String MATERIALIZED {_field("String", "source", ENROLLED)},
        metric String MATERIALIZED {_field("String", "metric", METRIC_RECORDED)},
        value Float64 MATERIALIZED {_field("Float", "value", METRIC_RECORDED)},
        value_micros Int64 MATERIALIZED toInt64(roundBankers(value * 1000000)),
        excluded String MATERIALIZED {_field("String", "excluded", METRIC_RECORDED)},
        at_us Int64 MATERIALIZED toUnixTimestamp64Micro(parseDateTime64BestEffortOrZero(
            simpleJSONExtractString(simpleJSONExtractRaw(state, 'at'), '_data_'), 6, 'UTC')),
        segment String MATERIALIZED if(topic = '{EXPOSED}', ifNull(nullIf(
            JSONExtractRaw(simpleJSONExtractRaw(state, 'context'), 'segment'), ''), '{{}}'), '')
    ) ENGINE = Memory
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.batch_users (
        participation_id String, experiment_key String, user_id String, variant String,
        exposed UInt8, first_exposed_at_us Int64, exposures UInt32, mismatched UInt8,
        metric_keys Array(String), post_micros Array(Int64), post_counts Array(UInt32),
        pre_micros Array(Int64), position UInt64
    ) ENGINE = Memory
    """,
    """
    CREATE TABLE IF NOT EXISTS {db}.batch_result (
        participation_id String, experiment_key String, user_id String, variant String,
        exposed UInt8, first_exposed_at_us Int64, exposures UInt64, mismatched UInt8,
        metric_keys Array(String), post_micros Array(Int64), post_counts Array(UInt64),
        pre_micros Array(Int64), position UInt64, first_segment String, first_position UInt64
    ) ENGINE = Memory
    """,
)

USER_COLUMNS = (
    "participation_id, experiment_key, user_id, variant, exposed, first_exposed_at_us, "
    "exposures, mismatched, metric_keys, post_micros, post_counts, pre_micros, position"
)

PARAMS = {
    "enrolled": ENROLLED,
    "exposed": EXPOSED,
    "metric": METRIC_RECORDED,
    "mismatch": VARIANT_MISMATCH,
}

RESET = tuple(
    f"TRUNCATE TABLE {{db}}.{table}" for table in ("batch_events", "batch_users", "batch_result")
)

# The latest row of each participation of the batch (argMax: cheaper than FINAL here).
KNOWN_USERS = f"""
INSERT INTO {{db}}.batch_users ({USER_COLUMNS})
SELECT participation_id, latest.1, latest.2, latest.3, latest.4, latest.5, latest.6, latest.7,
       latest.8, latest.9, latest.10, latest.11, latest.12
FROM (
    SELECT participation_id,
           argMax(({USER_COLUMNS.removeprefix("participation_id, ")}), position) AS latest
    FROM {{db}}.user_metrics
    WHERE participation_id IN (SELECT participation_id FROM {{db}}.batch_events)
    GROUP BY participation_id
)
"""

NEW_USERS = """
INSERT INTO {db}.batch_users (participation_id, experiment_key, user_id, variant, position)
SELECT participation_id, experiment_key, user_id, variant, 0
FROM {db}.batch_events
WHERE topic = {enrolled:String}
  AND participation_id NOT IN (SELECT participation_id FROM {db}.batch_users)
"""

ASSIGNMENTS = """
INSERT INTO {db}.assignments
    (participation_id, experiment_key, user_id, variant, source, enrolled_at_us, position)
SELECT participation_id, experiment_key, user_id, variant, source, at_us,
       position
FROM {db}.batch_events WHERE topic = {enrolled:String}
"""

METRIC_EVENTS = """
INSERT INTO {db}.metric_events
    (experiment_key, participation_id, user_id, variant, metric, value, at_us, excluded,
     position)
SELECT u.experiment_key, participation_id, u.user_id, u.variant, b.metric, b.value,
       b.at_us, b.excluded, b.position
FROM {db}.batch_events AS b INNER JOIN {db}.batch_users AS u USING participation_id
WHERE b.topic = {metric:String}
"""

# Each touched participation's new state. Post-exposure values count (sum, count);
# before-exposure ones are CUPED covariates; other exclusions (after the stop, not
# assigned) are kept in metric_events only. ``first_position`` is 0 unless the first
# exposure is in this batch.
RESULT = """
INSERT INTO {db}.batch_result
SELECT participation_id, any(experiment_key), any(user_id), any(variant), max(is_exposed),
       argMinIf(at_us, at_position, is_exposed = 1), sum(exposure_count), max(is_mismatched),
       tupleElement(sumMap(keys, post, counts, pre) AS sums, 1), sums.2, sums.3, sums.4,
       max(at_position),
       argMinIf(segment, at_position, is_exposed = 1), minIf(at_position, is_exposed = 1)
FROM (
    SELECT participation_id, experiment_key, user_id, variant, exposed AS is_exposed,
           first_exposed_at_us AS at_us, '' AS segment, exposures AS exposure_count,
           mismatched AS is_mismatched, metric_keys AS keys, post_micros AS post,
           post_counts AS counts, pre_micros AS pre, toUInt64(0) AS at_position
    FROM {db}.batch_users
    UNION ALL
    SELECT participation_id, u.experiment_key, u.user_id, u.variant,
           toUInt8(b.topic = {exposed:String}), b.at_us, b.segment,
           toUInt32(b.topic = {exposed:String}), toUInt8(b.topic = {mismatch:String}),
           if(counted, [b.metric], []), if(counted, [if(post, b.value_micros, 0)], []),
           if(counted, [toUInt32(post)], []), if(counted, [if(post, 0, b.value_micros)], []),
           b.position
    FROM (
        SELECT participation_id, topic, position, at_us, segment, metric, value_micros,
               excluded,
               topic = {metric:String} AND excluded IN ('', 'before_exposure') AS counted,
               excluded = '' AS post
        FROM {db}.batch_events
    ) AS b
    INNER JOIN {db}.batch_users AS u USING participation_id
    WHERE b.position > u.position
)
GROUP BY participation_id
HAVING count() > 1
"""

EXPOSURES = """
INSERT INTO {db}.exposures
    (experiment_key, participation_id, user_id, variant, exposed_at_us, segment, position)
SELECT experiment_key, participation_id, user_id, variant, first_exposed_at_us, first_segment,
       first_position
FROM {db}.batch_result WHERE first_position > 0
"""

USER_METRICS = f"""
INSERT INTO {{db}}.user_metrics ({USER_COLUMNS})
SELECT {USER_COLUMNS} FROM {{db}}.batch_result
"""


def render(statement: str, database: str) -> str:
    """The statement for one database (``{name:Type}`` parameters stay for the engine)."""
    return statement.replace("{db}", database)


STATEMENTS = (KNOWN_USERS, NEW_USERS, ASSIGNMENTS, METRIC_EVENTS, RESULT, EXPOSURES, USER_METRICS)
