"""``actor_cache``: results that outlive a task, for the next tasks of the same executor process.

Union's SDK keeps these results in a dict in its own module, keyed by the working directory, the function's
name and module, and the call's arguments; so does this module, with two differences:

- the dict is bounded: least recently used results go first once it holds more than
  ``FLYTE_ACTOR_CACHE_MAX_ENTRIES`` results (default :data:`DEFAULT_MAX_ENTRIES`);
- the key also names the decorated function object, so a result is never served to another version of the
  function (a re-imported module decorates anew). The warm runtime also empties the cache whenever it loads
  other code (:func:`clear`), which frees what the old code cached.
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Tuple, TypeVar

ENV_MAX_ENTRIES = "FLYTE_ACTOR_CACHE_MAX_ENTRIES"
"""The environment variable that bounds the number of cached results (set it in the environment's
``environment={...}``)."""

DEFAULT_MAX_ENTRIES = 128
"""How many results the cache keeps when ``FLYTE_ACTOR_CACHE_MAX_ENTRIES`` is not set: as many as
``functools.lru_cache``. Typical use caches a handful of expensive objects (a model, a client)."""

F = TypeVar("F", bound=Callable[..., Any])

# Each decorated function gets its own number, part of every key of its results.
_decorations = itertools.count()


class _LRUStore:
    """The process's cached results, least recently used first. One lock guards the dict; the cached
    function itself runs outside it, so two tasks may compute the same missing result at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: "OrderedDict[Hashable, Any]" = OrderedDict()

    def get(self, key: Hashable) -> Tuple[bool, Any]:
        with self._lock:
            if key not in self._results:
                return False, None
            self._results.move_to_end(key)
            return True, self._results[key]

    def put(self, key: Hashable, value: Any, max_entries: int) -> None:
        with self._lock:
            self._results[key] = value
            self._results.move_to_end(key)
            while len(self._results) > max_entries:
                self._results.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._results)


_store = _LRUStore()


def max_entries() -> int:
    """The cache's bound: ``FLYTE_ACTOR_CACHE_MAX_ENTRIES`` if set to a positive integer, else
    :data:`DEFAULT_MAX_ENTRIES`. Read at every insertion, so an environment variable set by the
    environment applies at once."""
    raw = os.environ.get(ENV_MAX_ENTRIES, "").strip()
    if not raw:
        return DEFAULT_MAX_ENTRIES
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{ENV_MAX_ENTRIES} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{ENV_MAX_ENTRIES} must be a positive integer, got {raw!r}")
    return value


def clear() -> None:
    """Forgets every cached result. The warm runtime calls it when it loads other code."""
    _store.clear()


def size() -> int:
    """How many results the cache holds."""
    return len(_store)


def _key_part(value: Any) -> Any:
    """What stands for an argument in the key: a FlyteFile or FlyteDirectory by where it comes from (as in
    Union's SDK), anything else by itself."""
    from flytekit.types.directory import FlyteDirectory
    from flytekit.types.file import FlyteFile

    if isinstance(value, (FlyteFile, FlyteDirectory)):
        return value.remote_source or value.path
    return value


def actor_cache(f: F) -> F:
    """Caches ``f``'s results in the executor process, across tasks and workflows, for as long as the
    process runs the same code. Arguments must be hashable; FlyteFile and FlyteDirectory arguments are keyed
    by their source. Keyword arguments match in any order. A call that raises caches nothing.

    Use it for what is expensive to build and the same for many tasks (a model, a client)::

        @actor_cache
        def load_model(name: str) -> Model: ...
    """
    decoration = next(_decorations)

    @functools.wraps(f)
    def cached(*args: Any, **kwargs: Any) -> Any:
        key = (
            os.getcwd(),
            f.__name__,
            f.__module__,
            decoration,
            tuple(_key_part(a) for a in args),
            tuple(sorted((k, _key_part(v)) for k, v in kwargs.items())),
        )
        try:
            hit, value = _store.get(key)
        except TypeError as e:
            raise TypeError(f"actor_cache: the arguments of {f.__qualname__} must be hashable: {e}") from None
        if hit:
            return value
        value = f(*args, **kwargs)
        _store.put(key, value, max_entries())
        return value

    return cached  # type: ignore[return-value]
