"""One map for the study's per-split work: sequential, a local process pool, or a Dask cluster.

Every notebook that trains per split (and 03b per seed x PCA size) hands its work to :func:`map`: a module-level
function of ``lib`` and one argument tuple per item. Which engine runs it is an execution setting, not a result,
so it comes from the environment, never from a params file:

- ``KD_BACKEND``: ``sequential`` (the default), ``processes`` (a local pool of ``KD_WORKERS`` processes, default
  2) or ``dask`` (``dask.distributed``: the scheduler at ``DASK_SCHEDULER_ADDRESS`` if set, else a local cluster
  of ``KD_WORKERS`` single-threaded worker processes). Setting ``DASK_SCHEDULER_ADDRESS`` alone selects ``dask``.
- A worker computes exactly what the notebook's own process would: each item seeds its own models
  (``lib.core.repro.seed_everything`` with the split's seed) and reads and writes under the same outputs tree
  (``KDSTUDY_OUTPUTS``; on a cluster it must be a shared filesystem, see README "Running on a cluster"). Results
  come back in the order of the items whichever engine ran them, and a failure names the item that failed.

Workers started here inherit this process's environment (``TF_USE_LEGACY_KERAS=1`` included), and every task
carries the caller's outputs tree, so a worker reads and writes where the caller does. Local Dask workers keep
the caller's thread settings (Dask's nanny would otherwise set ``OMP_NUM_THREADS=1`` and its kin, which the
notebook kernel does not). Workers of an external cluster must be started with the same environment, code and
thread settings (README "Running on a cluster").
"""
from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterable, Sequence

from lib.core import paths

BACKENDS = ("sequential", "processes", "dask")


class BackendError(ValueError):
    """An unknown backend or worker count, or a Dask cluster that cannot be reached."""


def settings(backend: str | None = None, workers: int | None = None, address: str | None = None) -> dict:
    """The engine to use: arguments first, then ``KD_BACKEND`` / ``KD_WORKERS`` / ``DASK_SCHEDULER_ADDRESS``."""
    address = address or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    backend = (backend or os.environ.get("KD_BACKEND") or ("dask" if address else "sequential")).strip().lower()
    if backend not in BACKENDS:
        raise BackendError(f"KD_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}")
    raw = workers if workers is not None else os.environ.get("KD_WORKERS", "2")
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise BackendError(f"KD_WORKERS={raw!r} is not a whole number") from None
    if n < 1:
        raise BackendError(f"KD_WORKERS must be at least 1, got {n}")
    return {"backend": backend, "workers": n, "address": address if backend == "dask" else None}


def describe(**kw) -> str:
    s = settings(**kw)
    if s["backend"] == "sequential":
        return "sequential (this process)"
    if s["backend"] == "processes":
        return f"local process pool of {s['workers']} workers"
    return f"Dask scheduler at {s['address']}" if s["address"] else f"local Dask cluster of {s['workers']} workers"


def _label(i: int, labels) -> str:
    return str(labels[i]) if labels is not None else f"item {i + 1}"


def _call(fn: Callable, args: tuple, outputs: str) -> Any:
    """A task on a worker: the caller's outputs tree (``KDSTUDY_OUTPUTS``), then ``fn(*args)``."""
    os.environ["KDSTUDY_OUTPUTS"] = outputs
    return fn(*args)


def map(fn: Callable, items: Iterable[Sequence], *, labels: Sequence[str] | None = None,
        log: Callable[[str], None] | None = print, backend: str | None = None, workers: int | None = None,
        address: str | None = None) -> list:
    """``[fn(*args) for args in items]`` on the configured engine, in the order of ``items``.

    ``fn`` must be importable by name (a function of ``lib``); each item is a tuple of picklable arguments.
    ``log`` gets one line per finished item (``[3/10] split r0f2 (12.1 s)``, then the item's own ``line``
    attribute if its result has one), in completion order; ``None`` silences it."""
    items = [tuple(a) for a in items]
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"{len(labels)} labels for {len(items)} items")
    s = settings(backend, workers, address)
    outputs = str(paths.outputs_root())
    log = log or (lambda _line: None)
    results: list = [None] * len(items)
    start = time.perf_counter()
    done = 0

    def report(i, value):
        nonlocal done
        done += 1
        extra = getattr(value, "line", None)
        log(f"[{done}/{len(items)}] {_label(i, labels)} ({time.perf_counter() - start:.1f} s)"
            + (f"\n    {extra}" if extra else ""))

    def failed(i, err):
        return RuntimeError(f"{getattr(fn, '__name__', fn)} failed on {_label(i, labels)}: "
                            f"{type(err).__name__}: {err}")

    if s["backend"] == "sequential" or not items:
        for i, args in enumerate(items):
            try:
                results[i] = fn(*args)
            except Exception as e:
                raise failed(i, e) from e
            report(i, results[i])
        return results
    if s["backend"] == "processes":
        ex = ProcessPoolExecutor(max_workers=min(s["workers"], len(items)), mp_context=mp.get_context("spawn"))
        ok = False
        try:
            futures = {ex.submit(_call, fn, args, outputs): i for i, args in enumerate(items)}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    results[i] = fut.result()
                except Exception as e:
                    raise failed(i, e) from e
                report(i, results[i])
            ok = True
        finally:  # after a failure, neither wait for the splits still running nor start the queued ones
            ex.shutdown(wait=ok, cancel_futures=not ok)
        return results
    return _dask_map(fn, items, s, results, report, failed, outputs)


def _dask_map(fn, items, s, results, report, failed, outputs):
    try:  # dask only for KD_BACKEND=dask: importing it would slow every notebook's start
        import dask
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError as e:  # pragma: no cover - dask is in requirements.txt
        raise BackendError("KD_BACKEND=dask needs dask.distributed (pip install -r requirements.txt)") from e
    cluster = None
    try:
        if s["address"]:
            try:
                client = Client(s["address"], timeout="10s")
            except Exception as e:
                raise BackendError(f"cannot reach the Dask scheduler at DASK_SCHEDULER_ADDRESS={s['address']}: "
                                   f"{type(e).__name__}: {e}") from e
        else:
            # The nanny's default pre-spawn environment pins OMP/MKL/OpenBLAS to one thread; the notebook kernel
            # does not, and BLAS-backed steps (PCA) must compute alike whichever engine runs them.
            spawn_env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                         if not k.endswith("_NUM_THREADS")}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
                cluster = LocalCluster(n_workers=s["workers"], threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
            client = Client(cluster)
        with client:
            # A key of its own per call and item: a long-lived scheduler never hands back an earlier call's result.
            tag = f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex[:8]}"
            futures = [client.submit(_call, fn, args, outputs, pure=False, key=f"{tag}-{i}")
                       for i, args in enumerate(items)]
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in dask_completed(futures):
                i = index[fut.key]
                try:
                    results[i] = fut.result()
                except Exception as e:
                    client.cancel(futures)
                    raise failed(i, e) from e
                report(i, results[i])
    finally:
        if cluster is not None:
            cluster.close()
    return results

