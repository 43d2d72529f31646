"""Where a flow's per-mailbox tasks run: a thread pool in the flow's process, or a Dask cluster.

``threads`` (the default) runs ``concurrency`` mailbox tasks at once in the flow's process; the
flow's Graph/Exchange clients are shared by the threads. ``dask`` runs them through
prefect-dask's ``DaskTaskRunner``: on the scheduler at ``dask_address`` (an existing cluster), or
on a ``LocalCluster`` of ``dask_workers`` worker processes started for the run. Dask tasks get no
client objects (they cannot travel between processes): each worker process builds its own once,
through :func:`tasks.common.graph_client_for`. Worker processes need ``PREFECT_API_URL`` (the
flow's settings travel with each task), ``MAILWARDEN_STORE_URL`` and the tenant's CA file
(named in the tenant block) to be reachable from where they run: see docs/scale-out.md.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

RunnerKind = Literal["threads", "dask"]
T = TypeVar("T")


def build_runner(kind: RunnerKind, concurrency: int, *, dask_address: str | None = None,
                 dask_workers: int = 2) -> TaskRunner[Any]:
    """A task runner that runs about ``concurrency`` mailbox tasks at once (not started yet)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=concurrency)
    if kind != "dask":
        raise ValueError(f"task_runner must be 'threads' or 'dask', not {kind!r}")
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    if not 1 <= dask_workers <= 64:
        raise ValueError("dask_workers must be between 1 and 64")
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": dask_workers, "processes": True,
        "threads_per_worker": math.ceil(concurrency / dask_workers),
        "host": "127.0.0.1", "dashboard_address": None})


def in_process(obj: T, runner: TaskRunner[Any]) -> T | None:
    """``obj`` when the runner's tasks share this process's memory, else None (tasks build their own)."""
    return obj if isinstance(runner, ThreadPoolTaskRunner) else None


def quoted(value: T, runner: TaskRunner[Any]) -> Any:
    """``quote(value)`` (Prefect does not walk it) on threads; the bare value on Dask, whose transport
    turns a quote into a plain tuple."""
    return quote(value) if isinstance(runner, ThreadPoolTaskRunner) else value
