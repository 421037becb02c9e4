"""Every flytekit type family through a task, once as actor tasks (actor.py) and once one pod per task
(pod.py): the two modules wrap the same functions (impl.py) in the same workflows, so their outputs must
be equal. Each workflow also returns digests of its blobs, computed by a downstream task that reads them."""
