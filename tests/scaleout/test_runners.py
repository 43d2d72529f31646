"""The runner choice of the mailbox flows (the Dask scheduler from server settings only, mutual TLS)
and the per-process client factory the Dask tasks use."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from distributed import Security
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from prefect_dask import DaskTaskRunner
from pydantic import SecretStr

from tasks.runners import build_runner, in_process, quoted, task_tenant


@pytest.fixture
def dask_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """``set(**{"ADDRESS": ..., "TLS_CA_FILE": ...})``: this process's MAILWARDEN_DASK_* settings."""
    from mailwarden.settings import get_settings

    for name in ("ADDRESS", "TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        monkeypatch.delenv(f"MAILWARDEN_DASK_{name}", raising=False)

    def set_(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"MAILWARDEN_DASK_{name}", str(value))
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield set_
    get_settings.cache_clear()


def test_threads_runner_shares_objects_and_dask_runner_gets_none(dask_env: Callable[..., None]) -> None:
    threads = build_runner("threads", 6)
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 6
    client, context = object(), frozenset({"a@example.com"})
    assert in_process(client, threads) is client and quoted(context, threads) == quote(context)
    local = build_runner("dask", 6, dask_workers=4)
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 4 and local.cluster_kwargs["processes"] is True
    assert local.cluster_kwargs["threads_per_worker"] == 2  # 6 mailboxes at once over 4 processes
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    assert in_process(client, local) is None and quoted(context, local) is context  # Dask strips quote()


def test_the_local_cluster_gets_a_certificate_of_its_own(dask_env: Callable[..., None]) -> None:
    """Each LocalCluster speaks TLS with a fresh in-memory certificate (other local users lack it)."""
    first, second = (cast(DaskTaskRunner, build_runner("dask", 4)).cluster_kwargs for _ in range(2))
    for kw in (first, second):
        assert isinstance(kw["security"], Security)
        sec: Any = kw["security"]
        assert sec.require_encryption and kw["protocol"] == "tls://"
        assert "BEGIN CERTIFICATE" in sec.tls_ca_file and "PRIVATE KEY" in sec.tls_client_key
    assert first["security"].tls_client_key != second["security"].tls_client_key


def test_the_server_scheduler_is_reached_with_mutual_tls(dask_env: Callable[..., None], tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / n for n in ("ca.pem", "client.pem", "client.key"))
    for f in (ca, cert, key):
        f.write_text("PEM")
    dask_env(ADDRESS="tls://dask-scheduler:8786", TLS_CA_FILE=ca, TLS_CERT_FILE=cert, TLS_KEY_FILE=key)
    remote = build_runner("dask", 6, dask_workers=64)
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tls://dask-scheduler:8786" and not remote.cluster_kwargs
    assert isinstance(remote.client_kwargs["security"], Security)
    sec: Any = remote.client_kwargs["security"]
    assert sec.require_encryption
    assert (sec.tls_ca_file, sec.tls_client_cert, sec.tls_client_key) == (str(ca), str(cert), str(key))


ALL_TLS = {"TLS_CA_FILE": "ca.pem", "TLS_CERT_FILE": "client.pem", "TLS_KEY_FILE": "client.key"}


@pytest.mark.parametrize(("address", "tls", "match"), [
    ("tcp://dask-scheduler:8786", ALL_TLS, "tls://"),
    ("dask-scheduler:8786", ALL_TLS, "tls://"),  # no scheme: Dask's default, plain TCP
    ("ws://dask-scheduler:8786", ALL_TLS, "tls://"),
    ("tls://", ALL_TLS, "tls://"),
    ("tls://dask-scheduler:8786", {}, "MAILWARDEN_DASK_TLS_CA_FILE, MAILWARDEN_DASK_TLS_CERT_FILE"),
    ("tls://dask-scheduler:8786", {"TLS_CA_FILE": "ca.pem"}, "MAILWARDEN_DASK_TLS_CERT_FILE, MAILWARDEN_DASK_TLS_KEY"),
    ("tls://dask-scheduler:8786", {**ALL_TLS, "TLS_KEY_FILE": "absent.key"}, "set MAILWARDEN_DASK_TLS_KEY_FILE "),
])
def test_a_server_scheduler_without_mutual_tls_is_refused(
        dask_env: Callable[..., None], tmp_path: Path, address: str, tls: dict[str, str], match: str) -> None:
    for name in ALL_TLS.values():
        (tmp_path / name).write_text("PEM")
    dask_env(ADDRESS=address, **{k: tmp_path / v for k, v in tls.items()})
    with pytest.raises(ValueError, match=match):
        build_runner("dask", 4)
    assert isinstance(build_runner("threads", 4), ThreadPoolTaskRunner)  # only Dask needs the scheduler settings


@pytest.mark.parametrize("kw", [{"kind": "processes"}, {"concurrency": 0}, {"kind": "dask", "dask_workers": 0}])
def test_bad_runner_options_are_refused_before_any_work(kw: dict[str, Any], dask_env: Callable[..., None]) -> None:
    args: dict[str, Any] = {"kind": "threads", "concurrency": 4} | kw
    with pytest.raises(ValueError):
        build_runner(args.pop("kind"), args.pop("concurrency"), **args)


def test_a_task_refuses_a_block_that_holds_another_tenant(tenant_factory: Any) -> None:
    """The flow passes the tenant's id with its block name: a block renamed or replaced since is not used."""
    block, _ = tenant_factory(users=10, consent="basic")
    assert task_tenant(block.block_name, block.tenant_id.upper(), block) is block
    with pytest.raises(ValueError, match="no longer holds tenant"):
        task_tenant(block.block_name, "00000000-0000-0000-0000-000000000000", block)


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
