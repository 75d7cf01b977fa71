"""Benchmarks: each bench_*.py module, run as `python -m bench.<name>`, prints one markdown section."""
