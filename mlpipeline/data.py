"""Reading and validating the input CSV: pure functions on paths and frames.

`read_csv` refuses files it cannot read with a message naming the file and line.
`validate` checks the schema with pandera, reports *every* failure at once (per column, with
counts and example lines), then applies the missing-value policy.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa

from mlpipeline.config import PipelineConfig
from mlpipeline.errors import DataError, ValidationFailed
from mlpipeline.features import make_target

LINE = "__line__"  # CSV line number of each row, kept so errors can point at the file


def read_csv(path: str | Path) -> pd.DataFrame:
    """Read a CSV as text columns plus pandas' numeric inference; add each row's line number."""
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise DataError("file not found (data.path)", where=where)
    if path.is_dir():
        raise DataError("is a directory, expected a CSV file (data.path)", where=where)
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError("file is empty", where=where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(
            f"line {line}: not UTF-8 text (byte 0x{raw[e.start]:02x})", where=where
        ) from None
    header = next(csv.reader(io.StringIO(text)), [])
    seen: set[str] = set()
    dupes = sorted({c for c in header if c in seen or seen.add(c)})
    if dupes:
        raise DataError(
            f"line 1: duplicate column name(s) {', '.join(map(repr, dupes))}", where=where
        )
    if any(not c.strip() for c in header):
        raise DataError("line 1: a column has an empty name", where=where)
    try:
        df = pd.read_csv(io.StringIO(text), skip_blank_lines=True)
    except pd.errors.ParserError as e:
        raise DataError(f"cannot parse CSV: {e}", where=where) from None
    if df.empty:
        raise DataError("has a header but no data rows", where=where)
    # Line numbers of non-blank rows (header is line 1), so messages can say "line 17".
    lines = [i + 1 for i, row in enumerate(text.splitlines()) if row.strip()][1:]
    df.insert(0, LINE, lines[: len(df)] if len(lines) >= len(df) else range(2, len(df) + 2))
    return df


def _examples(index_values: list, limit: int = 3) -> str:
    shown = ", ".join(str(v) for v in index_values[:limit])
    return shown + (", ..." if len(index_values) > limit else "")


def build_schema(cfg: PipelineConfig) -> pa.DataFrameSchema:
    d, t = cfg.data, cfg.target
    parse = lambda s: pd.to_datetime(s, format=d.time_format, errors="coerce")  # noqa: E731
    numeric = pa.Check(
        lambda s: pd.to_numeric(s, errors="coerce").notna() | s.isna(),
        error="not a number",
    )
    # inf and -inf parse as numbers; they are refused under every data.missing policy (see
    # DataConfig.missing), reported like missing values: column, count, lines.
    finite = pa.Check(
        lambda s: ~np.isinf(pd.to_numeric(s, errors="coerce").astype("float64")),
        error="not a finite number (inf)",
    )
    nullable = d.missing != "fail"
    columns = {
        d.time_column: pa.Column(
            nullable=False,
            checks=[
                pa.Check(
                    lambda s: parse(s).notna(), error=f"not a time in format {d.time_format!r}"
                ),
                pa.Check(lambda s: ~s.duplicated(keep=False), error="duplicate timestamp"),
                pa.Check(
                    lambda s: ~(parse(s).diff() <= pd.Timedelta(0)),
                    error="timestamp not after the previous row's",
                ),
            ],
        ),
    }
    for col in dict.fromkeys((*d.feature_columns, t.column)):
        columns[col] = pa.Column(nullable=nullable, checks=[numeric, finite])
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def validate(
    df: pd.DataFrame, cfg: PipelineConfig, where: str = "data"
) -> tuple[pd.DataFrame, dict]:
    """Return the clean frame (time parsed, numeric columns as float64) and a report.

    Raises ValidationFailed listing every problem found.
    """
    d, t = cfg.data, cfg.target
    failures: list[str] = []
    if d.as_of and d.time_column in df:
        # Keep rows before the window's end, and unparseable ones so they get reported.
        times = pd.to_datetime(df[d.time_column], format=d.time_format, errors="coerce")
        df = df[times.isna() | (times < pd.Timestamp(d.as_of))]
    lines = df[LINE] if LINE in df else pd.Series(range(2, len(df) + 2), index=df.index)
    try:
        build_schema(cfg).validate(df, lazy=True)
    except pa.errors.SchemaErrors as e:
        fc = e.failure_cases
        for (column, check), group in fc.groupby(["column", "check"], dropna=False, sort=False):
            if pd.isna(column) or check == "column_in_dataframe":
                for case in group["failure_case"]:
                    failures.append(f"column {case!r}: required but missing from the file")
                continue
            idx = [i for i in group["index"].tolist() if i is not None and not pd.isna(i)]
            where_rows = f" (line {_examples([int(lines.loc[i]) for i in idx])})" if idx else ""
            label = "missing value" if check == "not_nullable" else check
            hint = " (data.missing = 'fail')" if check == "not_nullable" else ""
            failures.append(f"column {column!r}: {len(group)} row(s) {label}{where_rows}{hint}")

    used = list(dict.fromkeys((*d.feature_columns, t.column)))
    present = [c for c in used if c in df]
    missing_counts = {c: int(df[c].isna().sum()) for c in present}
    if len(df) < d.min_rows:
        failures.append(
            f"{len(df)} row(s), at least data.min_rows = {d.min_rows} needed"
            + (f" before data.as_of = {d.as_of}" if d.as_of else "")
        )
    if t.column in df and not any(f.startswith(f"column {t.column!r}") for f in failures):
        target = make_target(pd.to_numeric(df[t.column]).reset_index(drop=True), t).dropna()
        if target.nunique() < 2:
            failures.append(f"target ({t.describe()}) is constant: nothing to learn")
    if failures:
        raise ValidationFailed(failures, where=where)

    clean = df.drop(columns=[LINE], errors="ignore").copy()
    clean[d.time_column] = pd.to_datetime(clean[d.time_column], format=d.time_format)
    for c in used:
        clean[c] = clean[c].astype("float64")
    clean = clean[[d.time_column, *used]]
    if d.missing == "drop":
        clean = clean.dropna()
    elif d.missing == "ffill":
        clean = clean.ffill().dropna()  # past values only; leading gaps are dropped
    if len(clean) < d.min_rows:
        raise ValidationFailed(
            [
                f"{len(clean)} row(s) left after data.missing = {d.missing!r}, "
                f"at least data.min_rows = {d.min_rows} needed"
            ],
            where=where,
        )
    report = {
        "rows_in": int(len(df)),
        "rows_out": int(len(clean)),
        "missing_values": missing_counts,
        "missing_policy": d.missing,
        "time_range": [str(clean[d.time_column].min()), str(clean[d.time_column].max())]
        if len(clean)
        else None,
    }
    return clean.reset_index(drop=True), report
