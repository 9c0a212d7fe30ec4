"""Eval: calibration, benchmarks and (later) the answer-quality harness."""
