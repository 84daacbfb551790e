"""extract: the landing partition checked and cleaned; each bad delivery a clear error."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from mlpipeline.errors import DataError, ValidationFailed, is_retryable
from mlpipeline.recsys.extract import OUTPUT_SCHEMA, content_sha256, extract
from mlpipeline.recsys.generator import partition_path, write_day
from tests.recsys.conftest import DAY, SMALL, recsys_config, run_step

US_PER_DAY = 86_400_000_000


@pytest.fixture
def landed(tmp_path):
    cfg = recsys_config(tmp_path)
    write_day(cfg.data.landing, DAY, SMALL)
    return cfg


def _rewrite(cfg, table: pa.Table) -> None:
    pq.write_table(table, partition_path(cfg.data.landing, DAY))


def test_clean_day_counts_every_decision(landed, tmp_path):
    out = run_step("extract", landed, tmp_path / "out")
    table, report = pq.read_table(out.file("events")), out.json("report")
    assert table.schema.equals(OUTPUT_SCHEMA)
    assert report["events"] == SMALL.events_per_day == table.num_rows
    assert report["rows_read"] == report["events"] + report["duplicates"] > report["events"]
    assert report["late_kept"] > 0 and report["too_late"] == report["future"] == 0
    assert len(pc.unique(table.column("event_id"))) == table.num_rows
    assert pc.all(
        pc.greater(
            table.column("event_id").slice(1), table.column("event_id").slice(0, table.num_rows - 1)
        )
    ).as_py()
    weights = dict(
        zip(*[table.column(c).to_pylist() for c in ("event_type", "weight")], strict=True)
    )
    assert weights == {"view": 1.0, "click": 3.0, "purchase": 10.0}


def test_same_events_in_another_order_or_delivered_twice_have_the_same_content(landed):
    first, _ = extract(landed)
    raw = pq.read_table(partition_path(landed.data.landing, DAY))
    shuffled = raw.take(np.random.default_rng(1).permutation(raw.num_rows))
    _rewrite(landed, pa.concat_tables([shuffled, raw.slice(0, 100)]))  # and 100 more repeats
    second, report = extract(landed)
    assert content_sha256(second) == content_sha256(first) == report["content_sha256"]


def test_missing_partition_names_the_day_and_what_exists(landed, tmp_path):
    cfg = recsys_config(tmp_path, data__date="2026-03-05")
    with pytest.raises(
        DataError, match=r"no partition for 2026-03-05.*1 day\(s\), 2026-03-02"
    ) as err:
        extract(cfg)
    assert not is_retryable(err.value)


def test_corrupt_parquet_is_a_data_error(landed):
    path = partition_path(landed.data.landing, DAY)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(DataError, match="not a readable Parquet file") as err:
        extract(landed)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["item_id"]), "column 'item_id' is missing"),
        (
            lambda t: t.set_column(1, "user_id", t.column("user_id").cast(pa.string())),
            "column 'user_id' is string, expected an integer",
        ),
        (
            lambda t: t.set_column(3, "ts", t.column("ts").cast(pa.int64())),
            "column 'ts' is int64, expected timestamp",
        ),
    ],
)
def test_changed_schema_names_the_column_and_the_expected_type(landed, change, message):
    _rewrite(landed, change(pq.read_table(partition_path(landed.data.landing, DAY))))
    with pytest.raises(ValidationFailed, match=message):
        extract(landed)


def test_accepted_variants_narrow_ints_other_units_extra_columns(landed):
    base, _ = extract(landed)
    t = pq.read_table(partition_path(landed.data.landing, DAY))
    t = t.set_column(2, "item_id", t.column("item_id").cast(pa.int32()))
    t = t.set_column(3, "ts", t.column("ts").cast(pa.timestamp("ns")))  # naive: read as UTC
    t = t.append_column("session", pa.array(np.zeros(t.num_rows, np.int64)))
    _rewrite(landed, t)
    out, report = extract(landed)
    assert report["extra_columns"] == ["session"]
    assert out.column("item_id").equals(base.column("item_id"))


def test_unknown_event_type_is_listed(landed):
    t = pq.read_table(partition_path(landed.data.landing, DAY))
    kinds = t.column("event_type").to_pylist()
    kinds[5] = "add_to_cart"
    _rewrite(landed, t.set_column(4, "event_type", pa.array(kinds)))
    with pytest.raises(ValidationFailed, match="unknown value\\(s\\) 'add_to_cart'"):
        extract(landed)


def test_empty_day_is_an_error(landed):
    _rewrite(landed, pq.read_table(partition_path(landed.data.landing, DAY)).slice(0, 0))
    with pytest.raises(DataError, match="no events left after cleaning"):
        extract(landed)


def test_late_rule_keeps_recent_late_events_and_drops_old_and_future_ones(landed):
    t = pq.read_table(partition_path(landed.data.landing, DAY))
    ts = t.column("ts").cast(pa.int64()).to_numpy().copy()
    ts[:10] -= 5 * US_PER_DAY  # older than data.max_lateness_days = 3
    ts[10:13] += 2 * US_PER_DAY  # after the day's end
    users = pa.array([None] * 4 + t.column("user_id").to_pylist()[4:], pa.int64())
    t = t.set_column(3, "ts", pa.array(ts).cast(t.schema.field("ts").type))
    _rewrite(landed, t.set_column(1, "user_id", users))
    _, report = extract(landed)
    assert report["too_late"] == 6 and report["future"] == 3 and report["null_rows"] == 4


def test_a_users_csv_mapped_by_config(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text(
        "visitor,product,when,action,w\n"
        "1,10,2026-03-02T08:00:00Z,View,1\n"
        "1,10,2026-03-02T08:00:00Z,View,1\n"  # an exact repeat: a duplicate (no event id)
        "1,13,2026-03-02T08:01:00Z,View,\n"  # no weight: a null, dropped and counted
        "2,11,2026-03-02 09:30:00,purchase,2.5\n"
        "2,12,2026-03-01T23:00:00Z,click,1\n"  # another day
    )
    cfg = recsys_config(
        tmp_path,
        data__source="file",
        data__path=str(csv),
        data__columns={
            "user": "visitor",
            "item": "product",
            "timestamp": "when",
            "event_type": "action",
            "weight": "w",
        },
    )
    out, report = extract(cfg)
    assert report["duplicates"] == 1 and report["other_days"] == 1 and report["null_rows"] == 1
    assert out.num_rows == 2
    assert sorted(out.column("event_type").to_pylist()) == ["purchase", "view"]
    assert sorted(out.column("weight").to_pylist()) == [1.0, 2.5]


@pytest.mark.filterwarnings("error")  # numpy warned on every file with time zones
def test_a_users_times_with_offsets_are_read_as_utc(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text(
        "user_id,item_id,when\n"
        "1,10,2026-03-02T10:00:00+02:00\n"  # 08:00 UTC
        "1,11,2026-03-02T01:00:00+02:00\n"  # 23:00 UTC the day before: another day
    )
    cfg = recsys_config(
        tmp_path, data__source="file", data__path=str(csv), data__columns={"timestamp": "when"}
    )
    out, report = extract(cfg)
    assert report["other_days"] == 1 and out.column("item_id").to_pylist() == [10]
    (ts,) = out.column("ts").to_pylist()
    assert (ts.isoformat(), ts.tzinfo is not None) == ("2026-03-02T08:00:00+00:00", True)


def test_a_users_file_with_wrong_column_names_or_text_ids(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("user_id,item_id,timestamp\nu1,10,2026-03-02T08:00:00Z\n")
    with pytest.raises(ValidationFailed, match="data.columns.timestamp = 'ts' is not a column"):
        extract(recsys_config(tmp_path, data__source="file", data__path=str(csv)))
    cfg = recsys_config(
        tmp_path, data__source="file", data__path=str(csv), data__columns={"timestamp": "timestamp"}
    )
    with pytest.raises(ValidationFailed, match="ids must be integers, found 'u1'"):
        extract(cfg)
    csv.write_text("user_id,item_id,timestamp,w\n1,10,2026-03-02T08:00:00Z,heavy\n")
    cfg = recsys_config(
        tmp_path,
        data__source="file",
        data__path=str(csv),
        data__columns={"timestamp": "timestamp", "weight": "w"},
    )
    with pytest.raises(ValidationFailed, match="column 'w'.*finite numbers"):
        extract(cfg)


def test_a_users_parquet_file_with_unix_times_and_string_event_ids(tmp_path):
    path = tmp_path / "mine.parquet"
    pq.write_table(
        pa.table(
            {
                "uid": [1, 2, 2],
                "iid": [10, 11, 11],
                "t": [1772438400, 1772442000, 1772442000],  # 2026-03-02 08:00 and 09:00 UTC
                "id": ["a", "b", "b"],  # "b" delivered twice
            }
        ),
        path,
    )
    cfg = recsys_config(
        tmp_path,
        data__source="file",
        data__path=str(path),
        data__date="",
        data__columns={
            "user": "uid",
            "item": "iid",
            "timestamp": "t",
            "event_id": "id",
            "time_format": "unix_s",
        },
    )
    out, report = extract(cfg)
    assert (out.num_rows, report["duplicates"], report["day"]) == (2, 1, "all")
    times = sorted(out.column("ts").cast(pa.int64()).to_pylist())
    assert times == [1772438400_000000, 1772442000_000000]
    assert set(out.column("event_type").to_pylist()) == {"view"}
