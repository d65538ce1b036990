"""Benchmarks that run the unchanged decision code against ground truth it never sees."""
