"""Benchmarks that print figures (never timed tests): ``python -m telebench.bench --help``."""
