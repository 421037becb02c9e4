"""actor_cache: Union's keying, an LRU bound, and no result served to another version of the function."""

import pytest
from flytekit.types.file import FlyteFile

from flyteactors import actor_cache, cache


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    monkeypatch.delenv(cache.ENV_MAX_ENTRIES, raising=False)
    cache.clear()
    yield
    cache.clear()


def counting():
    calls = []

    @actor_cache
    def build(*args, **kwargs):
        calls.append((args, kwargs))
        return object()

    return build, calls


def test_same_arguments_hit_other_arguments_miss():
    build, calls = counting()
    first = build(1, name="a")
    assert build(1, name="a") is first
    assert build(2, name="a") is not first
    assert build(1, name="b") is not first
    assert len(calls) == 3


def test_keyword_arguments_match_in_any_order():
    build, calls = counting()
    assert build(a=1, b=2) is build(b=2, a=1)
    assert len(calls) == 1


def test_the_working_directory_is_part_of_the_key(tmp_path, monkeypatch):
    build, calls = counting()
    here = build(1)
    monkeypatch.chdir(tmp_path)
    assert build(1) is not here


def test_the_decorated_function_is_part_of_the_key():
    """Two decorations of functions with the same name and module (as after a module is imported again, with
    another version of its code) never share results."""
    first, _ = counting()
    second, _ = counting()
    assert (first.__name__, first.__module__) == (second.__name__, second.__module__)
    assert first(1) is not second(1)


def test_wraps_the_function():
    build, _ = counting()
    assert build.__name__ == "build" and build.__wrapped__ is not None


def test_a_call_that_raises_caches_nothing():
    attempts = []

    @actor_cache
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return x

    with pytest.raises(RuntimeError):
        flaky(1)
    assert flaky(1) == 1 and flaky(1) == 1
    assert attempts == [1, 1]


def test_unhashable_arguments_are_refused_with_the_functions_name():
    build, _ = counting()
    with pytest.raises(TypeError, match=r"actor_cache: the arguments of counting.<locals>.build must be hashable"):
        build([1, 2])


def test_flyte_files_are_keyed_by_their_source():
    build, calls = counting()
    assert build(FlyteFile("s3://bucket/model.bin")) is build(FlyteFile("s3://bucket/model.bin"))
    assert build(FlyteFile("s3://bucket/other.bin")) is not build(FlyteFile("s3://bucket/model.bin"))
    assert len(calls) == 2


def test_least_recently_used_results_go_first_beyond_the_bound(monkeypatch):
    monkeypatch.setenv(cache.ENV_MAX_ENTRIES, "2")
    build, calls = counting()
    one = build(1)
    build(2)
    assert build(1) is one, "1 is now the most recently used"
    build(3)  # evicts 2
    assert cache.size() == 2
    assert build(1) is one
    build(2)
    assert [c[0] for c in calls] == [(1,), (2,), (3,), (2,)]


def test_default_bound():
    assert cache.max_entries() == cache.DEFAULT_MAX_ENTRIES == 128
    build, _ = counting()
    for i in range(200):
        build(i)
    assert cache.size() == 128


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_a_bad_bound_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(cache.ENV_MAX_ENTRIES, value)
    build, _ = counting()
    with pytest.raises(ValueError, match=f"FLYTE_ACTOR_CACHE_MAX_ENTRIES must be a positive integer, got '{value}'"):
        build(1)


def test_clear_forgets_everything():
    build, calls = counting()
    build(1)
    cache.clear()
    build(1)
    assert len(calls) == 2 and cache.size() == 1
