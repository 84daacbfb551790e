"""The recommender pipeline's data steps, one function each, named as everywhere else.

Signature as the weather steps': ``step(cfg, out, **inputs) -> Path``; each writes under `out`
(atomically) and returns the path of its main output. Orchestrator-free: the declaration (names,
edges, retries) is added where the pipeline is declared.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from mlpipeline import artifacts
from mlpipeline.recsys import extract as extract_mod
from mlpipeline.recsys import profiles
from mlpipeline.recsys.config import RecsysConfig


def extract(cfg: RecsysConfig, out: Path) -> Path:
    """Read, check and clean the run's day of events.

    Inputs: none from other steps. Config: ``data`` (source, landing, date, path, columns,
    event_weights, max_lateness_days, min_events). Files read: the landing partition
    ``data.landing/date=<data.date>/part-0.parquet``, or the user file ``data.path``.
    Writes ``events.parquet`` (canonical, sorted by event_id; returned) and ``extract.json``
    (rows read, duplicates, late, dropped, event mix, content_sha256).
    """
    table, report = extract_mod.extract(cfg)
    artifacts.write_json(out / "extract.json", report)
    path = out / "events.parquet"
    with artifacts.atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def merge_profiles(cfg: RecsysConfig, out: Path, events: str) -> Path:
    """Merge the day's events into the profile state, once; snapshot the state.

    Inputs: ``events`` (extract's ``events.parquet``; its ``extract.json`` beside it names the
    delivery and its content sha256). Config: ``profiles`` (db, lock_timeout_seconds, threads,
    memory_limit), ``data.date``. Files read and written: the state database ``profiles.db``.
    Writes the state's tables sorted by key as Parquet (``user_profiles``, ``item_stats``,
    ``user_items``, ``merged_deliveries``: what the features step reads, immutable per run)
    and ``merge.json`` (status, counts, state checksum). Returns `out`, the snapshot folder.
    """
    events_path = Path(events)
    report = artifacts.read_json(events_path.parent / "extract.json")
    sha = report["content_sha256"]
    delivery = cfg.data.date or f"file:{sha[:16]}"
    result = profiles.merge(cfg.profiles, pq.read_table(events_path), delivery, sha)
    tables = profiles.read_tables(cfg.profiles)
    for name, table in tables.items():
        with artifacts.atomic_path(out / f"{name}.parquet") as tmp:
            pq.write_table(table, tmp, compression="zstd")
    result.update(profiles.summary(tables), state_sha256=profiles.checksum(tables))
    artifacts.write_json(out / "merge.json", result)
    return out
