"""Where the per-batch work of the data stages runs: the config's `compute` section (settings.Compute).

A stage calls `map_batches(compute, fn, batches, ...)` and gets `fn(batch, **shared)` for every batch,
in input order, whatever runs it:

* `local`: in this process, or (`processes` > 1) in a process pool (forkserver: clean children with
  `fn`'s module preloaded);
* `ray`: one Ray task per batch on the cluster at `compute.address` (else `RAY_ADDRESS`); `shared`
  values (a benchmark index, the config) go to the object store once, not with every task.

Either way at most `in_flight` batches are submitted and not yet yielded, so memory stays at a few
batches however long the stream is. `fn` must be a module-level function (the workers import it),
so the stage's pure code runs unchanged and the outputs are the same bytes as with `local`.
Stages never import ray: only this module (lazily, when `kind` is `ray`) and `ray_resource.py`.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from hare_assets.core.settings import Compute


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def map_batches(compute: Compute, fn: Callable[..., Any], batches: Iterable[Any], *, processes: int = 1,
                shared: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """`fn(batch, **shared)` for each batch, in input order, with bounded work in flight.
    `processes` is the local pool size (1: this process); under Ray the cluster decides."""
    shared = dict(shared or {})
    if compute.kind == "ray":
        yield from _ray_map(compute, fn, batches, shared)
    elif processes > 1:
        yield from _pool_map(fn, batches, shared, processes)
    else:
        for batch in batches:
            yield fn(batch, **shared)


def _bounded(submit: Callable[[Any], Any], result: Callable[[Any], Any], batches: Iterable[Any],
             in_flight: int) -> Iterator[Any]:
    pending: deque = deque()
    for batch in batches:
        pending.append(submit(batch))
        if len(pending) >= in_flight:
            yield result(pending.popleft())
    while pending:
        yield result(pending.popleft())


def _pool_map(fn: Callable, batches: Iterable, shared: dict, processes: int) -> Iterator:
    import multiprocessing as mp

    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([fn.__module__])
    with ProcessPoolExecutor(processes, mp_context=ctx) as pool:
        yield from _bounded(lambda b: pool.submit(fn, b, **shared), lambda f: f.result(), batches, processes + 1)


def connect(compute: Compute) -> None:
    """Joins the configured Ray cluster unless this process already has (the Dagster resource,
    `ray_resource.RayCluster`, connects a run's steps; scripts and benchmarks come through here)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=compute.address or os.environ.get("RAY_ADDRESS"), log_to_driver=False)


def ray_in_flight(compute: Compute) -> int:
    import ray

    if compute.max_in_flight:
        return compute.max_in_flight
    return int(ray.cluster_resources().get("CPU", 1) // compute.task_cpus) + 1


def _ray_map(compute: Compute, fn: Callable, batches: Iterable, shared: dict) -> Iterator:
    import ray

    connect(compute)
    task = ray.remote(fn).options(num_cpus=compute.task_cpus, name=f"{fn.__module__}.{fn.__qualname__}")
    refs = {k: ray.put(v) for k, v in shared.items()}  # top-level refs are resolved in the task
    yield from _bounded(lambda b: task.remote(b, **refs), ray.get, batches, ray_in_flight(compute))
