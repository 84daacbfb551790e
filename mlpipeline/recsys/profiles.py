"""Merge a day of events into the user-profile state: incremental, idempotent, crash-safe.

State (an embedded DuckDB file, ``profiles.db``), four tables:

- ``user_profiles``: per user, counts by event type, summed weight, first and last seen, and
  the number of days active;
- ``item_stats``: per item, the same counts, ``user_days`` (distinct users summed over days:
  popularity), first seen (when the catalogue first showed it), last seen, days active;
- ``user_items``: per user-item pair, counts, weight, first and last seen: the interaction
  matrix the features step turns into affinities (recency from ``last_seen``);
- ``merged_deliveries``: the ledger, one row per merged delivery (a day's ISO date, or
  ``file:<sha>`` for a user file taken whole) with its event count and content sha256.

Every stored quantity is exact (integer counts, DECIMAL weights, min/max times), so merging
is associative and commutative: days merged in any order give the same tables, bit for bit.

Idempotence: a delivery already in the ledger with the same content is a no-op ("already
merged"); with different content it is refused (a corrected delivery must go through a
rebuild, never silently on top). The upserts and the ledger row are one transaction, so a
crash (even kill -9) leaves the state before or after the day, and the rerun completes it.
One writer at a time: a file lock (``<db>.lock``) around the transaction; DuckDB itself
refuses a second process opening the file.

Postgres: the SQL is the portable subset (``UPDATE ... FROM``, ``INSERT ... WHERE NOT
EXISTS``, LEAST, GREATEST, DECIMAL, TIMESTAMPTZ, temporary tables). What differs: DuckDB reads
the day's Arrow table directly (``register``); Postgres would ``COPY`` it into a temporary table
first, and would not need the file lock (its row locks and transactions serialise two writers; take
``pg_advisory_xact_lock`` to make the second one wait instead of conflict).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlpipeline import artifacts
from mlpipeline.errors import DataError
from mlpipeline.recsys.config import ProfilesConfig

TABLES = {  # name -> key columns (the sort order of snapshots and checksums)
    "user_profiles": ("user_id",),
    "item_stats": ("item_id",),
    "user_items": ("user_id", "item_id"),
    "merged_deliveries": ("delivery",),
}
_COUNTS = """
    views BIGINT NOT NULL, clicks BIGINT NOT NULL, purchases BIGINT NOT NULL,
    weight DECIMAL(18, 3) NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL, last_seen TIMESTAMPTZ NOT NULL"""
SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS user_profiles (user_id BIGINT PRIMARY KEY, {_COUNTS},"
    " active_days INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS item_stats (item_id BIGINT PRIMARY KEY, {_COUNTS},"
    " user_days BIGINT NOT NULL, active_days INTEGER NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS user_items (user_id BIGINT NOT NULL, item_id BIGINT NOT NULL,"
    f" {_COUNTS}, PRIMARY KEY (user_id, item_id))",
    "CREATE TABLE IF NOT EXISTS merged_deliveries (delivery VARCHAR PRIMARY KEY,"
    " events BIGINT NOT NULL, content_sha256 VARCHAR NOT NULL)",
)
# The day's aggregates, the same for every table: counts by type, weight, first/last seen.
_AGG = """
    SUM(CASE WHEN event_type = 'view' THEN 1 ELSE 0 END) AS views,
    SUM(CASE WHEN event_type = 'click' THEN 1 ELSE 0 END) AS clicks,
    SUM(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchases,
    SUM(CAST(weight AS DECIMAL(18, 3))) AS weight,
    MIN(ts) AS first_seen, MAX(ts) AS last_seen"""


# table -> (key columns, additive columns beyond the counts, their day aggregates)
_SPEC = {
    "user_profiles": (("user_id",), ("active_days",), "1 AS active_days"),
    "item_stats": (
        ("item_id",),
        ("user_days", "active_days"),
        "COUNT(DISTINCT user_id) AS user_days, 1 AS active_days",
    ),
    "user_items": (("user_id", "item_id"), (), ""),
}


def upsert_sql(table: str) -> tuple[str, ...]:
    """Stage the day's aggregates, add them to existing rows, insert the new rows.

    UPDATE ... FROM plus an anti-join INSERT: the same text runs on Postgres. One UPDATE per
    column: DuckDB 2.0 took 10 s to update the 65k item rows of a 1M-event day in all eight
    columns at once, and 0.05 s per column one at a time (measured; same rows either way).
    (Its ``INSERT ... ON CONFLICT DO UPDATE`` measured 5-10x slower than the UPDATE once rows
    exist.)
    """
    keys, extra, more = _SPEC[table]
    key = ", ".join(keys)
    additive = ("views", "clicks", "purchases", "weight", *extra)
    sets = [
        *(f"{c} = {table}.{c} + d.{c}" for c in additive),
        f"first_seen = LEAST({table}.first_seen, d.first_seen)",
        f"last_seen = GREATEST({table}.last_seen, d.last_seen)",
    ]
    match = " AND ".join(f"{table}.{k} = d.{k}" for k in keys)
    anti = " AND ".join(f"t.{k} = d.{k}" for k in keys)
    return (
        f"CREATE TEMPORARY TABLE day_agg AS SELECT {key}, {_AGG}{', ' + more if more else ''}"
        f" FROM day_events GROUP BY {key}",
        *(f"UPDATE {table} SET {one} FROM day_agg d WHERE {match}" for one in sets),
        f"INSERT INTO {table} SELECT d.* FROM day_agg d"
        f" WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE {anti})",
        "DROP TABLE day_agg",
    )


@contextlib.contextmanager
def writer_lock(db: str | Path, timeout: float) -> Iterator[None]:
    """Exclusive lock on ``<db>.lock``, waited for up to `timeout` seconds.

    Released by the kernel when the holder dies, so a killed merge never blocks the next one.
    A timeout raises TimeoutError: transient, so the engines retry it.
    """
    with artifacts.file_lock(
        f"{db}.lock", timeout, holder="another merge (profiles.lock_timeout_seconds)"
    ):
        yield


def connect(cfg: ProfilesConfig, read_only: bool = False):
    """A DuckDB connection to the state, in UTC, with the configured limits and tables."""
    import duckdb

    Path(cfg.db).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(cfg.db, read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if cfg.threads:
        con.execute(f"SET threads = {int(cfg.threads)}")
    if cfg.memory_limit:
        con.execute("SET memory_limit = ?", [cfg.memory_limit])
    if not read_only:
        for statement in SCHEMA:
            con.execute(statement)
    return con


def merge(cfg: ProfilesConfig, events: pa.Table, delivery: str, sha256: str) -> dict[str, Any]:
    """Merge one delivery's clean events (`extract`'s output) into the state, once.

    Returns ``{"delivery", "status": "merged" | "already merged", "events", "seconds"}``.
    Raises DataError if the ledger holds this delivery with other content.
    """
    started = time.perf_counter()
    with writer_lock(cfg.db, cfg.lock_timeout_seconds):
        con = connect(cfg)
        try:
            row = con.execute(
                "SELECT content_sha256, events FROM merged_deliveries WHERE delivery = ?",
                [delivery],
            ).fetchone()
            if row is not None:
                if row[0] != sha256:
                    raise DataError(
                        f"{delivery} was already merged with other content (ledger sha256"
                        f" {row[0][:12]}, this delivery {sha256[:12]}); a corrected day needs a"
                        " rebuild of the profile state, not a second merge",
                        where=f"merge_profiles ({cfg.db})",
                    )
                status = "already merged"
            else:
                _merge_in_transaction(con, events, delivery, sha256)
                status = "merged"
        finally:
            con.close()
    return {
        "delivery": delivery,
        "status": status,
        "events": events.num_rows,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _merge_in_transaction(con, events: pa.Table, delivery: str, sha256: str) -> None:
    con.register("day_events", events)
    con.execute("BEGIN TRANSACTION")
    try:
        for table in _SPEC:
            _upsert(con, table)
        con.execute(
            "INSERT INTO merged_deliveries VALUES (?, ?, ?)", [delivery, events.num_rows, sha256]
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("day_events")


def _upsert(con, table: str) -> None:
    for statement in upsert_sql(table):
        con.execute(statement)


# -- reading the state -------------------------------------------------------------------------
def read_tables(cfg: ProfilesConfig) -> dict[str, pa.Table]:
    """Every state table, sorted by its key (taken under the writer lock: a consistent view)."""
    with writer_lock(cfg.db, cfg.lock_timeout_seconds):
        con = connect(cfg)
        try:
            return {
                name: con.sql(f"SELECT * FROM {name} ORDER BY {', '.join(keys)}").to_arrow_table()
                for name, keys in TABLES.items()
            }
        finally:
            con.close()


def table_checksum(table: pa.Table) -> str:
    """sha256 of a table's column names and values, in row order; decimals and times as
    numbers, so a DuckDB table and the same rows from Parquet or pandas agree."""
    h = hashlib.sha256()
    for name in table.column_names:
        col = table.column(name)
        if pa.types.is_decimal(col.type):
            col = col.cast(pa.float64())
        elif pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        elif pa.types.is_integer(col.type):
            col = col.cast(pa.int64())
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            data = "\0".join(col.to_pylist()).encode()
        else:
            data = np.ascontiguousarray(col.to_numpy()).tobytes()
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def checksum(tables: dict[str, pa.Table]) -> str:
    """One sha256 for the whole state (tables sorted by key, as `read_tables` returns them)."""
    h = hashlib.sha256()
    for name in TABLES:
        h.update(name.encode() + b"\0" + table_checksum(tables[name]).encode())
    return h.hexdigest()


def state_checksum(cfg: ProfilesConfig) -> str:
    return checksum(read_tables(cfg))


def summary(tables: dict[str, pa.Table]) -> dict[str, Any]:
    """Row counts and totals: the merge report's view of the state."""
    users = tables["user_profiles"]
    return {
        "users": users.num_rows,
        "items": tables["item_stats"].num_rows,
        "user_items": tables["user_items"].num_rows,
        "deliveries": tables["merged_deliveries"].column("delivery").to_pylist(),
        "events_total": int(pc.sum(tables["merged_deliveries"].column("events")).as_py() or 0),
    }
