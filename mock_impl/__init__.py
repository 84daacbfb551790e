"""The zero-infrastructure baseline: a small in-process DAG engine and the pipeline on it."""
