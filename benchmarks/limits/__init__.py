"""Helpers of `benchmarks/bench_limits.py`: nginx and the emulator, nginx's log, the worker."""
