"""Benchmarks of orchestration overhead, retries, caching and end-to-end runs (pytest-benchmark).

python -m benchmarks run --engines direct,mock [--quick] --output DIR   measure, write JSON
python -m benchmarks report --input DIR --output DIR                    tables and plots
"""
