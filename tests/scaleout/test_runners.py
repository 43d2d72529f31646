"""The runner choice of the mailbox flows and the per-process client factory the Dask tasks use."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from prefect_dask import DaskTaskRunner
from pydantic import SecretStr

from tasks.runners import build_runner, in_process, quoted


def test_threads_runner_shares_objects_and_dask_runner_gets_none() -> None:
    threads = build_runner("threads", 6)
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 6
    client, context = object(), frozenset({"a@example.com"})
    assert in_process(client, threads) is client and quoted(context, threads) == quote(context)
    local = build_runner("dask", 6, dask_workers=4)
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 4 and local.cluster_kwargs["processes"] is True
    assert local.cluster_kwargs["threads_per_worker"] == 2  # 6 mailboxes at once over 4 processes
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    remote = build_runner("dask", 6, dask_address="tcp://127.0.0.1:8786")
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://127.0.0.1:8786" and not remote.cluster_kwargs
    assert in_process(client, local) is None and quoted(context, remote) is context  # Dask strips quote()


@pytest.mark.parametrize("kw", [{"kind": "processes"}, {"concurrency": 0}, {"kind": "dask", "dask_workers": 0}])
def test_bad_runner_options_are_refused_before_any_work(kw: dict[str, Any]) -> None:
    args: dict[str, Any] = {"kind": "threads", "concurrency": 4} | kw
    with pytest.raises(ValueError):
        build_runner(args.pop("kind"), args.pop("concurrency"), **args)


def test_client_factory_builds_one_client_per_tenant_and_tier_per_process(tenant_factory: Any) -> None:
    from tasks.common import exchange_client_for, graph_client_for

    block, _ = tenant_factory(users=10, consent="advanced")
    other, _ = tenant_factory(users=10, consent="basic")
    got: list[Any] = []
    threads = [threading.Thread(target=lambda: got.append(graph_client_for(block))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(c) for c in got}) == 1  # racing threads get the same client
    first = got[0]
    assert graph_client_for(block.model_copy()) is first  # same tenant, same settings: reused
    assert graph_client_for(block, "advanced") is not first
    assert graph_client_for(other) is not first  # never another tenant's client
    assert exchange_client_for(block) is not first and exchange_client_for(block) is exchange_client_for(block)
    app = block.app.model_copy(update={"client_secret": SecretStr("rotated-value")})
    rotated = block.model_copy(update={"app": app})
    assert graph_client_for(rotated) is not first  # a changed credential builds a new client
    assert first.get("/organization")["value"]  # the retired client still works for threads using it
