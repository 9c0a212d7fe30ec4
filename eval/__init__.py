"""Eval: the answer-quality harness, its report and CI thresholds, refusal calibration, synthetic sets and `make bench`."""
