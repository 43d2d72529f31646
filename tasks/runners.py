"""Where a flow's per-mailbox tasks run: a thread pool in the flow's process, or a Dask cluster.

``threads`` (the default) runs ``concurrency`` mailbox tasks at once in the flow's process; the
flow's block and Graph/Exchange clients are shared by the threads. ``dask`` runs them through
prefect-dask's ``DaskTaskRunner``, on a cluster chosen by the server, never by the run:

- ``MAILWARDEN_DASK_ADDRESS`` unset: a ``LocalCluster`` of ``dask_workers`` worker processes on
  127.0.0.1, started for the run with a certificate made for it (``Security.temporary()``): its
  scheduler and workers speak TLS and refuse anyone without that certificate (other local users);
- set: that scheduler, which must be ``tls://`` and is reached with mutual TLS, the client's
  certificate and key and the CA from ``MAILWARDEN_DASK_TLS_CA_FILE``/``_CERT_FILE``/``_KEY_FILE``.
  Anything else is refused (:func:`build_runner` raises ``ValueError``) before a task is submitted.

What crosses to a Dask worker carries no secret: tasks get the tenant's block name (and its id,
checked) and load the block in the worker (:func:`task_tenant`), then build their clients once
per process (:func:`tasks.common.graph_client_for`). Worker processes need ``PREFECT_API_URL``
(and ``PREFECT_API_AUTH_STRING`` or ``PREFECT_API_KEY`` where the server wants one) to load the
block, ``MAILWARDEN_STORE_URL``, and the flow's other ``MAILWARDEN_*`` server settings: see
docs/scale-out.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from prefect.futures import as_completed
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from prefect.utilities.annotations import quote

from mailwarden.settings import Settings, get_settings
from tasks.common import load_tenant

if TYPE_CHECKING:
    from distributed import Security

    from blocks.m365 import M365Tenant

RunnerKind = Literal["threads", "dask"]
T = TypeVar("T")
_TLS_FILES = (("dask_tls_ca_file", "MAILWARDEN_DASK_TLS_CA_FILE"),
              ("dask_tls_cert_file", "MAILWARDEN_DASK_TLS_CERT_FILE"),
              ("dask_tls_key_file", "MAILWARDEN_DASK_TLS_KEY_FILE"))


def build_runner(kind: RunnerKind, concurrency: int, *, dask_workers: int = 2) -> TaskRunner[Any]:
    """A task runner that runs about ``concurrency`` mailbox tasks at once (not started yet).

    With ``dask``, the scheduler is the server's (:func:`scheduler_security`) or a LocalCluster.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=concurrency)
    if kind != "dask":
        raise ValueError(f"task_runner must be 'threads' or 'dask', not {kind!r}")
    settings = get_settings()
    if settings.dask_address:
        security = scheduler_security(settings)  # refuses before anything is started or submitted
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=settings.dask_address.strip(), client_kwargs={"security": security})
    if not 1 <= dask_workers <= 64:
        raise ValueError("dask_workers must be between 1 and 64")
    from distributed import Security
    from prefect_dask import DaskTaskRunner

    # The cluster's own certificate, in memory only: its client (from the cluster) has it, nobody else.
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": dask_workers, "processes": True,
        "threads_per_worker": math.ceil(concurrency / dask_workers),
        "host": "127.0.0.1", "protocol": "tls://", "security": Security.temporary(),
        "dashboard_address": None})


def fan_out(runner: TaskRunner[Any], task: Any, params: Mapping[str, dict[str, Any]]) -> Iterator[tuple[str, Any]]:
    """Submit ``task`` once per mailbox (``params``: mailbox id -> its parameters) and yield
    ``(mailbox id, result)`` as each finishes; a task that failed for good yields its exception."""
    futures = {runner.submit(task, p): mb for mb, p in params.items()}
    for fut in as_completed(list(futures)):
        try:
            yield futures[fut], fut.result()
        except Exception as exc:  # noqa: BLE001 - the caller decides: report the mailbox, or raise
            yield futures[fut], exc


def gather(runner: TaskRunner[Any], task: Any, params: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """:func:`fan_out`'s results by mailbox, in the order of ``params``; the first failure is raised."""
    got = dict(fan_out(runner, task, params))
    for mb in params:
        if isinstance(got[mb], Exception):
            raise got[mb]
    return {mb: got[mb] for mb in params}


def scheduler_security(settings: Settings | None = None) -> Security:
    """Mutual TLS to the server's Dask scheduler (``MAILWARDEN_DASK_*``); ValueError if it is not that."""
    settings = settings or get_settings()
    address = (settings.dask_address or "").strip()
    scheme = address.split("://", 1)[0].lower() if "://" in address else "tcp"
    if scheme != "tls" or not address[len("tls://"):].strip("/"):
        raise ValueError(f"MAILWARDEN_DASK_ADDRESS must be a tls:// scheduler address (mutual TLS); "
                         f"it names a {scheme}:// one: refused, nothing was sent to it")
    files: dict[str, str] = {}
    missing: list[str] = []
    for field, env in _TLS_FILES:
        path: Path | None = getattr(settings, field)
        if path is None or not Path(path).is_file():
            missing.append(env)
        else:
            files[field] = str(path)
    if missing:
        raise ValueError(f"the Dask scheduler is reached with mutual TLS only: set {', '.join(missing)} "
                         "to the CA file and this client's certificate and key (existing PEM files)")
    from distributed import Security

    return Security(require_encryption=True, tls_ca_file=files["dask_tls_ca_file"],
                    tls_client_cert=files["dask_tls_cert_file"], tls_client_key=files["dask_tls_key_file"])


def in_process(obj: T, runner: TaskRunner[Any]) -> T | None:
    """``obj`` when the runner's tasks share this process's memory, else None (tasks build their own)."""
    return obj if isinstance(runner, ThreadPoolTaskRunner) else None


def quoted(value: T, runner: TaskRunner[Any]) -> Any:
    """``quote(value)`` (Prefect does not walk it) on threads; the bare value on Dask, whose transport
    turns a quote into a plain tuple."""
    return quote(value) if isinstance(runner, ThreadPoolTaskRunner) else value


def task_tenant(tenant: str, tenant_id: str, block: M365Tenant | None = None) -> M365Tenant:
    """The tenant block of a per-mailbox task: the flow's own on threads, else loaded here by name.

    ``tenant_id`` is the flow's: a block that now holds another tenant is refused, never used.
    """
    loaded = block if block is not None else load_tenant(tenant)
    if loaded.tenant_id != tenant_id.lower():
        raise ValueError(f"the block {tenant!r} no longer holds tenant {tenant_id}: not scanned")
    return loaded
