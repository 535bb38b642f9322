"""Benchmark harness: accuracy, automation and speed over a dataset with ground truth."""
