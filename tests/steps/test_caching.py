import importlib.util
import sys

from mlpipeline.caching import code_fingerprint, step_cache_key
from mlpipeline.steps import WEATHER


def _function_from_file(tmp_path, source: str, name: str):
    """A function whose source lives in a real file, as an edited helper would."""
    path = tmp_path / "edited_helper.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("mlpipeline._edited_helper", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return getattr(module, name)


def test_fingerprint_covers_helpers_called_through_modules(tmp_path, monkeypatch):
    # train_model calls training.fit, which calls training.make_model: a change to that
    # helper two calls away must change the step's fingerprint.
    import mlpipeline.training as training

    fp = code_fingerprint(WEATHER.steps["train_model"].fn)
    edited = _function_from_file(
        tmp_path, "def make_model(params, cfg):\n    return 1\n", "make_model"
    )
    monkeypatch.setattr(training, "make_model", edited)
    assert code_fingerprint(WEATHER.steps["train_model"].fn) != fp
    monkeypatch.undo()
    assert code_fingerprint(WEATHER.steps["train_model"].fn) == fp


def test_key_depends_on_only_the_sections_a_step_reads(make_config):
    cfg = make_config()
    step = WEATHER.steps["load_data"]
    key = step_cache_key(step, cfg, {})
    assert step_cache_key(step, make_config(gate__min_accuracy=0.9), {}) == key
    assert step_cache_key(step, make_config(data__min_rows=10), {}) != key


def test_key_covers_the_files_a_step_declares(tmp_path, make_config):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    cfg = make_config(data__path=str(data))
    key = step_cache_key(WEATHER.steps["load_data"], cfg, {})
    data.write_text("a,b\n1,3\n")  # same size, new content: an in-place edit must miss
    assert step_cache_key(WEATHER.steps["load_data"], cfg, {}) != key


def test_key_depends_on_input_content(tmp_path, make_config):
    cfg = make_config()
    f = tmp_path / "in.parquet"
    f.write_bytes(b"one")
    step = WEATHER.steps["validate_data"]
    key = step_cache_key(step, cfg, {"raw": str(f)})
    f.write_bytes(b"two")
    assert step_cache_key(step, cfg, {"raw": str(f)}) != key
