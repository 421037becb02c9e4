"""The seed's four examples with plain flytekit tasks (one pod per task) in place of actor tasks: the
same workflows, the same resources and pod template, so the demo can set actors against pods."""
