import importlib.util
import sys

from mlpipeline.caching import code_fingerprint, step_cache_key
from mlpipeline.steps import STEP_FUNCTIONS


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

    fp = code_fingerprint(STEP_FUNCTIONS["train_model"])
    edited = _function_from_file(
        tmp_path, "def make_model(params, cfg):\n    return 1\n", "make_model"
    )
    monkeypatch.setattr(training, "make_model", edited)
    assert code_fingerprint(STEP_FUNCTIONS["train_model"]) != fp
    monkeypatch.undo()
    assert code_fingerprint(STEP_FUNCTIONS["train_model"]) == fp


def test_key_depends_on_only_the_sections_a_step_reads(make_config):
    cfg = make_config()
    step = STEP_FUNCTIONS["load_data"]
    key = step_cache_key("load_data", step, cfg, {})
    assert step_cache_key("load_data", step, make_config(gate__min_accuracy=0.9), {}) == key
    assert step_cache_key("load_data", step, make_config(data__min_rows=10), {}) != key


def test_key_depends_on_input_content(tmp_path, make_config):
    cfg = make_config()
    f = tmp_path / "in.parquet"
    f.write_bytes(b"one")
    step = STEP_FUNCTIONS["validate_data"]
    key = step_cache_key("validate_data", step, cfg, {"raw": str(f)})
    f.write_bytes(b"two")
    assert step_cache_key("validate_data", step, cfg, {"raw": str(f)}) != key
