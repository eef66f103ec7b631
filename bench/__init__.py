"""Benchmarks: each prints its figure, its named baseline and the ratio, measured in one run."""
