"""Extract one day of interaction events: read, check, clean, in a canonical form.

Input: the landing partition ``landing/date=YYYY-MM-DD/part-0.parquet`` (``data.source =
"landing"``), or a user's own CSV/Parquet file with columns mapped by ``data.columns``
(``data.source = "file"``). Output: one Arrow table, sorted by event_id, with

    event_id int64, user_id int64, item_id int64, ts timestamp[us, UTC],
    event_type string (view | click | purchase), weight float64

and a report of every row it dropped and why. Sorting by event_id makes the output (and its
`content_sha256`) independent of delivery order, so a day delivered twice is recognised.

Rules, each a clear error (`DataError`, not retried) or a counted decision:
- missing partition or file, unreadable Parquet/CSV: error naming the path.
- schema: a missing column or a column of another kind (text where an integer is expected...)
  is an error listing every such column with the expected type. Any integer width is accepted
  for ids (upcast to int64), any timestamp unit, UTC or naive (read as UTC); extra columns are
  ignored and listed in the report.
- event types other than view/click/purchase: error listing them (a producer changed meaning).
- rows with a null id, timestamp or type: dropped and counted (``null_rows``).
- duplicates (same event_id): the first occurrence in file order is kept; count reported.
- late events (timestamp before the day): kept and attributed to the day they landed, if at
  most ``data.max_lateness_days`` old; older ones (``too_late``) and events stamped after the
  day's end (``future``) are dropped and counted. With a user file the day is the timestamp's
  UTC date instead: rows of other days are skipped (``other_days``), not errors.
- a day with fewer than ``data.min_events`` events left (0 by default: an empty day): error.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlpipeline.errors import DataError, ValidationFailed
from mlpipeline.recsys.config import RecsysConfig
from mlpipeline.recsys.generator import EVENT_TYPES, partition_path, schema, to_table

_US_PER_DAY = 86_400_000_000
OUTPUT_SCHEMA = schema().append(pa.field("weight", pa.float64()))  # the landing's, weighted
# Landing columns and the kind each must have: (predicate, what the error says is expected).
_EXPECTED = {
    "event_id": (pa.types.is_integer, "an integer (int64)"),
    "user_id": (pa.types.is_integer, "an integer (int64)"),
    "item_id": (pa.types.is_integer, "an integer (int64)"),
    "ts": (pa.types.is_timestamp, "timestamp[us, tz=UTC]"),
    "event_type": (
        lambda t: (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or (pa.types.is_dictionary(t) and pa.types.is_string(t.value_type))
        ),
        "string (view | click | purchase)",
    ),
}


def extract(cfg: RecsysConfig) -> tuple[pa.Table, dict[str, Any]]:
    """The day's clean events and the report (counts of everything dropped or kept late)."""
    if cfg.data.source == "landing":
        return _from_landing(cfg)
    return _from_file(cfg)


# -- the landing zone --------------------------------------------------------------------------
def _from_landing(cfg: RecsysConfig) -> tuple[pa.Table, dict[str, Any]]:
    day = date.fromisoformat(cfg.data.date)
    path = partition_path(cfg.data.landing, day)
    where = f"extract ({path})"
    if not path.is_file():
        raise DataError(_missing_partition(Path(cfg.data.landing), day), where=where)
    table = _read_parquet(path, where)
    problems, extra = _schema_problems(table.schema)
    if problems:
        raise ValidationFailed(problems, where=where)
    table = table.select(list(_EXPECTED))
    weights = _type_weights(cfg)
    codes = _event_codes(table.column("event_type"), where)
    columns = {
        "event_id": table.column("event_id").cast(pa.int64()),
        "user_id": table.column("user_id").cast(pa.int64()),
        "item_id": table.column("item_id").cast(pa.int64()),
        "ts": _utc_micros(table.column("ts")),
        "code": codes,
    }
    clean, report = _clean(columns, None, day, cfg.data.max_lateness_days, landing=True)
    out = _canonical(clean, weights)
    report = {"source": str(path), "day": day.isoformat(), "extra_columns": extra, **report}
    return _finish(out, report, cfg, where)


def _missing_partition(landing: Path, day: date) -> str:
    days = (
        sorted(p.name.removeprefix("date=") for p in landing.glob("date=*"))
        if landing.is_dir()
        else []
    )
    have = f"the landing zone has {len(days)} day(s)" + (
        f", {days[0]} to {days[-1]}" if days else ""
    )
    return f"no partition for {day.isoformat()} (data.landing); {have}"


def _read_parquet(path: Path, where: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"not a readable Parquet file: {first}", where=where) from None


def _schema_problems(schema: pa.Schema) -> tuple[list[str], list[str]]:
    problems = []
    for name, (ok, expected) in _EXPECTED.items():
        if name not in schema.names:
            problems.append(f"column {name!r} is missing (expected {expected})")
        elif not ok(schema.field(name).type):
            problems.append(f"column {name!r} is {schema.field(name).type}, expected {expected}")
        elif name == "ts" and schema.field(name).type.tz not in (None, "UTC", "Etc/UTC", "+00:00"):
            problems.append(
                f"column 'ts' is in time zone {schema.field(name).type.tz}, expected UTC"
            )
    extra = [n for n in schema.names if n not in _EXPECTED]
    return problems, extra


# -- a user's own file -------------------------------------------------------------------------
def _from_file(cfg: RecsysConfig) -> tuple[pa.Table, dict[str, Any]]:
    import pandas as pd

    path, cols = Path(cfg.data.path), cfg.data.columns
    where = f"extract ({path})"
    if not path.is_file():
        raise DataError("file not found (data.path)", where=where)
    wanted = {
        "user": cols.user,
        "item": cols.item,
        "timestamp": cols.timestamp,
        **{k: getattr(cols, k) for k in ("event_type", "weight", "event_id") if getattr(cols, k)},
    }
    if path.suffix.lower() in (".parquet", ".pq"):
        frame = _read_parquet(path, where).to_pandas()
    else:
        try:
            frame = pd.read_csv(path, dtype=dict.fromkeys(wanted.values(), str))
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise DataError(f"cannot read as CSV: {first}", where=where) from None
    missing = [
        f"data.columns.{role} = {name!r} is not a column"
        for role, name in wanted.items()
        if name not in frame.columns
    ]
    if missing:
        missing.append(f"the file's columns: {', '.join(map(str, frame.columns))}")
        raise ValidationFailed(missing, where=where)

    problems: list[str] = []
    user = _int_ids(frame[cols.user], f"column {cols.user!r} (data.columns.user)", problems)
    item = _int_ids(frame[cols.item], f"column {cols.item!r} (data.columns.item)", problems)
    ts = _parse_times(frame[cols.timestamp], cols.time_format, cols.timestamp, problems)
    if cols.event_type:
        kinds = frame[cols.event_type].astype("string").str.strip().str.lower()
        code = pa.array(kinds, pa.string(), from_pandas=True)
        code = _event_codes(pa.chunked_array([code]), where)
    else:
        code = pa.chunked_array([pa.array(np.zeros(len(frame), np.int8))])
    weight = None
    if cols.weight:
        weight = pd.to_numeric(frame[cols.weight], errors="coerce")
        bad = int(weight.isna().sum() - frame[cols.weight].isna().sum())
        if bad or (weight < 0).any() or np.isinf(weight).any():
            problems.append(
                f"column {cols.weight!r} (data.columns.weight): needs finite numbers >= 0"
            )
    if problems:
        raise ValidationFailed(problems, where=where)
    if cols.event_id:
        ids = frame[cols.event_id]
        event_id = (
            ids.astype("Int64")
            if pd.api.types.is_integer_dtype(ids)
            else pd.Series(pd.util.hash_array(ids.astype(str).to_numpy()).view(np.int64))
        )
    else:  # a hash of the row: only exact repeats are duplicates
        key = pd.DataFrame(
            {"u": user, "i": item, "t": ts, "c": code.to_numpy(zero_copy_only=False)}
        )
        event_id = pd.Series(pd.util.hash_pandas_object(key, index=False).to_numpy().view(np.int64))
    columns = {
        "event_id": pa.chunked_array([pa.array(event_id, pa.int64(), from_pandas=True)]),
        "user_id": pa.chunked_array([pa.array(user, pa.int64(), from_pandas=True)]),
        "item_id": pa.chunked_array([pa.array(item, pa.int64(), from_pandas=True)]),
        "ts": pa.chunked_array([pa.array(ts, pa.int64(), from_pandas=True)]),
        "code": code,
    }
    day = date.fromisoformat(cfg.data.date) if cfg.data.date else None
    clean, report = _clean(columns, weight, day, cfg.data.max_lateness_days, landing=False)
    out = _canonical(clean, _type_weights(cfg))
    report = {"source": str(path), "day": cfg.data.date or "all", "extra_columns": [], **report}
    return _finish(out, report, cfg, where)


def _int_ids(s, what: str, problems: list[str]):
    import pandas as pd

    num = pd.to_numeric(s, errors="coerce")
    bad = num.notna() & (num != np.floor(num.fillna(0)))
    text = s.notna() & num.isna()
    if text.any() or bad.any():
        example = s[text | bad].iloc[0]
        problems.append(f"{what}: ids must be integers, found {example!r}")
        return None
    return num.astype("Int64")


def _parse_times(s, fmt: str, name: str, problems: list[str]):
    """Microseconds since 1970 (UTC) as a nullable Int64 series."""
    import pandas as pd

    try:
        if fmt in ("unix_s", "unix_ms"):
            t = pd.to_datetime(pd.to_numeric(s, errors="raise"), unit=fmt[5:], utc=True)
        elif pd.api.types.is_datetime64_any_dtype(s):
            t = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
        else:
            t = pd.to_datetime(s, format=fmt or "ISO8601", utc=True)
    except (ValueError, TypeError) as e:
        problems.append(f"column {name!r} (data.columns.timestamp): cannot read times: {e}")
        return None
    # Naive UTC first: numpy has no time zones (and warns when handed aware times).
    micros = t.dt.tz_convert(None).to_numpy().astype("datetime64[us]").astype(np.int64)
    return pd.Series(micros, dtype="Int64").where(t.notna().to_numpy())


# -- shared cleaning ---------------------------------------------------------------------------
def _event_codes(col: pa.ChunkedArray, where: str) -> pa.ChunkedArray:
    """view/click/purchase -> 0/1/2 (null stays null); unknown types are an error."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(pa.string())
    codes = pc.index_in(col, value_set=pa.array(EVENT_TYPES))
    unknown = pc.and_(pc.is_null(codes), pc.is_valid(col))
    if pc.any(unknown).as_py():
        values = pc.unique(pc.filter(col, unknown)).to_pylist()
        shown = ", ".join(map(repr, sorted(values)[:5])) + (" ..." if len(values) > 5 else "")
        raise ValidationFailed(
            [f"column 'event_type' has unknown value(s) {shown}; expected view, click, purchase"],
            where=where,
        )
    return codes.cast(pa.int8())


def _utc_micros(col: pa.ChunkedArray) -> pa.ChunkedArray:
    unit = pa.timestamp("us", tz=col.type.tz)
    return col.cast(unit).cast(pa.int64())


def _clean(
    columns: dict[str, pa.ChunkedArray],
    weight,
    day: date | None,
    max_late: int,
    *,
    landing: bool,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    rows_read = len(columns["event_id"])
    valid = np.ones(rows_read, bool)
    for col in columns.values():
        if col.null_count:
            valid &= pc.is_valid(col).to_numpy(zero_copy_only=False)
    arrays = {k: v.fill_null(0).to_numpy() for k, v in columns.items()}
    if weight is not None:
        valid &= weight.notna().to_numpy()
        arrays["weight"] = weight.fillna(0).to_numpy(np.float64)
    null_rows = int(rows_read - valid.sum())

    counts = {"late_kept": 0, "too_late": 0, "future": 0, "other_days": 0}
    if day is not None:
        start = _day_start_us(day)
        ts = arrays["ts"]
        if landing:
            future = valid & (ts >= start + _US_PER_DAY)
            too_late = valid & (ts < start - max_late * _US_PER_DAY)
            counts["late_kept"] = int((valid & (ts < start) & ~too_late).sum())
            counts["too_late"], counts["future"] = int(too_late.sum()), int(future.sum())
            valid &= ~(future | too_late)
        else:
            other = valid & ((ts < start) | (ts >= start + _US_PER_DAY))
            counts["other_days"] = int(other.sum())
            valid &= ~other
    keep = np.flatnonzero(valid)
    # Duplicates: the first occurrence in file order wins (np.unique returns first indices).
    _, first = np.unique(arrays["event_id"][keep], return_index=True)
    kept = keep[np.sort(first)]
    duplicates = len(keep) - len(kept)
    kept = kept[np.argsort(arrays["event_id"][kept], kind="stable")]
    clean = {k: v[kept] for k, v in arrays.items()}
    report = {"rows_read": rows_read, "null_rows": null_rows, "duplicates": duplicates, **counts}
    return clean, report


def _day_start_us(day: date) -> int:
    midnight = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
    return int((midnight - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(microseconds=1))


def _type_weights(cfg: RecsysConfig) -> np.ndarray:
    w = cfg.data.event_weights
    return np.array([w.view, w.click, w.purchase], np.float64)


def _canonical(clean: dict[str, np.ndarray], type_weights: np.ndarray) -> pa.Table:
    code = clean["code"].astype(np.int8)
    weight = clean["weight"] if "weight" in clean else type_weights[code]
    events = to_table({**clean, "event_type": code})  # the landing's columns, as generated
    return events.append_column(OUTPUT_SCHEMA.field("weight"), pa.array(weight, pa.float64()))


def content_sha256(table: pa.Table) -> str:
    """sha256 of the canonical columns' values: the day's identity, whatever the file bytes."""
    h = hashlib.sha256()
    for name in OUTPUT_SCHEMA.names:
        col = table.column(name)
        if name == "event_type":
            arr = pc.index_in(col, value_set=pa.array(EVENT_TYPES)).to_numpy(zero_copy_only=False)
        elif name == "ts":
            arr = col.cast(pa.int64()).to_numpy()
        else:
            arr = col.to_numpy()
        h.update(name.encode() + b"\0" + np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _finish(out: pa.Table, report: dict[str, Any], cfg: RecsysConfig, where: str):
    if out.num_rows < cfg.data.min_events:
        why = "no events" if out.num_rows == 0 else f"only {out.num_rows} event(s)"
        raise DataError(
            f"{why} left after cleaning (data.min_events = {cfg.data.min_events}); dropped: "
            + ", ".join(
                f"{k} {report[k]}"
                for k in ("null_rows", "duplicates", "too_late", "future", "other_days")
            ),
            where=where,
        )
    counts = pc.value_counts(out.column("event_type")).to_pylist()
    report.update(
        events=out.num_rows,
        users=len(pc.unique(out.column("user_id"))),
        items=len(pc.unique(out.column("item_id"))),
        event_types={c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])},
        content_sha256=content_sha256(out),
    )
    return out, report
