"""Flyte's workflow constructs around actor tasks: each module is one construct, with an environment of its
own so that a test can tell its executors apart."""
