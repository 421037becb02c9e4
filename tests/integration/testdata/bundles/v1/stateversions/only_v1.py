"""Only in bundle v1: a task of v2 must not be able to import it."""
