"""Helpers for tests/test_faults.py: the processes of a run (read from /proc) and its output folder."""
