"""The end-to-end benchmarks' workflows (tests/cmd/benche2e): each shape as actor tasks and as one pod per task,
the same Python in both."""
