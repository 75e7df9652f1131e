"""lib.core.parallel: one map, three engines, the same results in the same order; clear errors.

The study-level check (a fast-profile chain executed sequentially and on a local Dask cluster of 2 workers,
byte-identical) is part of `make test`'s bit-identity step (Makefile, BITWISE_ENV)."""
import os

import pytest

from lib.core import parallel


def square_plus(x, y=0):
    return x * x + y


class Line:
    def __init__(self, v):
        self.v, self.line = v, f"value {v}"


def with_line(v):
    return Line(v)


def fails_on_three(x):
    if x == 3:
        raise ValueError("three is not allowed")
    return x


def env_of(key):
    return os.environ.get(key)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in ("KD_BACKEND", "KD_WORKERS", "DASK_SCHEDULER_ADDRESS"):
        monkeypatch.delenv(k, raising=False)


def test_settings_from_environment(monkeypatch):
    assert parallel.settings() == {"backend": "sequential", "workers": 2, "address": None}
    monkeypatch.setenv("KD_BACKEND", "Processes")
    monkeypatch.setenv("KD_WORKERS", "3")
    assert parallel.settings() == {"backend": "processes", "workers": 3, "address": None}
    monkeypatch.delenv("KD_BACKEND")
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://10.0.0.1:8786")
    assert parallel.settings()["backend"] == "dask" and parallel.settings()["address"] == "tcp://10.0.0.1:8786"
    assert "10.0.0.1" in parallel.describe()


@pytest.mark.parametrize("env, message", [({"KD_BACKEND": "threads"}, "not one of"),
                                          ({"KD_WORKERS": "two"}, "whole number"),
                                          ({"KD_WORKERS": "0"}, "at least 1")])
def test_bad_settings_are_named(monkeypatch, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(parallel.BackendError, match=message):
        parallel.settings()


def test_sequential_keeps_order_and_logs_lines():
    lines = []
    out = parallel.map(with_line, [(3,), (1,), (2,)], labels=["a", "b", "c"], log=lines.append)
    assert [o.v for o in out] == [3, 1, 2]
    assert lines[0].startswith("[1/3] a (") and lines[0].endswith("value 3") and len(lines) == 3
    assert parallel.map(square_plus, []) == []
    with pytest.raises(ValueError, match="2 labels for 3 items"):
        parallel.map(square_plus, [(1,), (2,), (3,)], labels=["a", "b"])


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_engines_agree_with_sequential(backend):
    """Order and values; that TensorFlow trainings agree too is `make test`'s Dask bit-identity check."""
    items = [(x, y) for x, y in zip(range(6), range(10, 16))]
    seq = parallel.map(square_plus, items, log=None)
    assert parallel.map(square_plus, items, backend=backend, workers=2, log=None) == seq


@pytest.mark.parametrize("backend", ["sequential", "processes", "dask"])
def test_a_failure_names_the_item(backend):
    with pytest.raises(RuntimeError, match="fails_on_three failed on split 3: ValueError: three is not allowed"):
        parallel.map(fails_on_three, [(1,), (3,)], labels=["split 1", "split 3"], backend=backend, workers=2,
                     log=None)


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(parallel.BackendError, match="cannot reach the Dask scheduler"):
        parallel.map(square_plus, [(1,)], address="tcp://127.0.0.1:1", log=None)


@pytest.mark.parametrize("backend", ["processes", "dask"])
def test_workers_use_the_callers_outputs_tree_and_thread_settings(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("KDSTUDY_OUTPUTS", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "2")  # as make test's stand-in: it must reach every worker
    seen = parallel.map(env_of, [("KDSTUDY_OUTPUTS",), ("OMP_NUM_THREADS",), ("OPENBLAS_NUM_THREADS",),
                                 ("TF_NUM_INTRAOP_THREADS",), ("TF_NUM_INTEROP_THREADS",)],
                        backend=backend, workers=1, log=None)
    assert seen == [str(tmp_path.resolve()), None, os.environ.get("OPENBLAS_NUM_THREADS"), "2", "1"]
