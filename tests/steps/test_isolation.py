"""The steps package must not import an orchestrator (STYLE principle 1)."""

import subprocess
import sys

import mlpipeline


def test_steps_package_imports_no_orchestrator():
    code = (
        "import pkgutil, importlib, sys, mlpipeline\n"
        "for m in pkgutil.walk_packages(mlpipeline.__path__, 'mlpipeline.'):\n"
        "    if m.name != 'mlpipeline.__main__':\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('airflow', 'prefect'))\n"
        "print(len([n for n in sys.modules if n.startswith('mlpipeline.')]), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    count, bad = out.stdout.split(" ", 1)
    assert int(count) >= 15, out.stdout  # the walk really imported the package's modules
    assert bad.strip() == "[]"
    assert mlpipeline.__version__
