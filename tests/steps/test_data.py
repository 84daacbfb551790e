import pandas as pd
import pytest

from mlpipeline import data
from mlpipeline.errors import DataError, ValidationFailed
from tests.conftest import DATA


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_reads_the_shipped_data():
    df = data.read_csv(DATA)
    assert len(df) == 1461
    assert list(df.columns) == [
        data.LINE,
        "date",
        "precipitation",
        "temp_max",
        "temp_min",
        "wind",
        "weather",
    ]
    assert df[data.LINE].iloc[0] == 2


def test_validate_parses_time_and_keeps_used_columns(make_config):
    cfg = make_config()
    clean, report = data.validate(data.read_csv(DATA), cfg)
    assert clean["date"].dtype.kind == "M"
    assert list(clean.columns) == ["date", "precipitation", "temp_max", "temp_min", "wind"]
    assert report["rows_out"] == 1461
    assert report["missing_values"] == {c: 0 for c in clean.columns[1:]}


def test_as_of_keeps_only_the_past(make_config):
    clean, _ = data.validate(data.read_csv(DATA), make_config(data__as_of="2013-01-01"))
    assert clean["date"].max() == pd.Timestamp("2012-12-31")
    assert len(clean) == 366


def test_every_failure_is_reported_with_lines(tmp_path, make_config):
    p = write(
        tmp_path,
        "date,precipitation,temp_max,temp_min\n"
        "2012/01/01,1.0,5,1\n2012/01/02,,abc,1\n2012/13/03,0.0,5,1\n"
        "2012/01/02,0.0,6,2\n",
    )
    with pytest.raises(ValidationFailed) as err:
        data.validate(data.read_csv(p), make_config(data__path=str(p)))
    text = "\n".join(err.value.failures)
    assert "column 'wind': required but missing" in text
    assert "column 'temp_max': 1 row(s) not a number (line 3)" in text
    assert "column 'precipitation': 1 row(s) missing value (line 3)" in text
    assert "not a time in format '%Y/%m/%d' (line 4)" in text
    assert "duplicate timestamp" in text
    assert "at least data.min_rows" in text


@pytest.mark.parametrize(("policy", "rows"), [("drop", 4), ("ffill", 5)])
def test_missing_value_policies(tmp_path, make_config, policy, rows):
    lines = ["date,precipitation,temp_max,temp_min,wind"] + [
        f"2012/01/0{i},{'' if i == 3 else i % 2},{i},{i},{i}" for i in range(1, 6)
    ]
    p = write(tmp_path, "\n".join(lines) + "\n")
    cfg = make_config(data__path=str(p), data__missing=policy, data__min_rows=3)
    clean, report = data.validate(data.read_csv(p), cfg)
    assert len(clean) == rows
    assert report["missing_values"]["precipitation"] == 1
    if policy == "ffill":
        assert clean["precipitation"].iloc[2] == clean["precipitation"].iloc[1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"date,x\n", "header but no data rows"),
        (b"date,x\n2012/01/01,\xe9\n", "line 2: not UTF-8"),
        (b"date,x,x\n1,2,3\n", "duplicate column name(s) 'x'"),
    ],
)
def test_unreadable_files(tmp_path, content, message):
    p = tmp_path / "f.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.read_csv(p)
