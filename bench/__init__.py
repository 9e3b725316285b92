"""Benchmarks that print figures side by side (ratios in one run); not tests."""
