"""Scale-out carries no secrets (issue 16, attack 2): the Dask scheduler is server configuration.

The attacker can start runs (plain calls, or a deployment run with parameters of their choice) and
listens on an address of their choice. Refused: naming a scheduler as a run parameter, a server-side
scheduler that is not ``tls://``, TLS without the client's certificate and key. Shown working: a
scheduler that requires client certificates (mutual TLS, certificates made here) and the per-run
``LocalCluster``, which refuses whoever lacks its generated certificate. Whatever the runner, what
crosses to the cluster holds no tenant secret (``_dask_capture``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.scaleout._tls import Pki, mutual_tls_cluster
from tests.security._dask_capture import assert_no_secret, captured_dask_traffic, tenant_secrets

pytestmark = pytest.mark.usefixtures("prefect_harness")
SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
DASK_ENV = ("MAILWARDEN_DASK_ADDRESS", "MAILWARDEN_DASK_TLS_CA_FILE", "MAILWARDEN_DASK_TLS_CERT_FILE",
            "MAILWARDEN_DASK_TLS_KEY_FILE")


# --- the attacker's stand-in scheduler, the server-side settings, a tenant ---------------------


@dataclass
class Listener:
    """A TCP port on loopback that only counts who connects (the attacker's 'scheduler')."""

    sock: socket.socket

    @property
    def address(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"{host}:{port}"

    def connections(self) -> int:
        n = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return n
            conn.close()
            n += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    try:
        yield Listener(sock)
    finally:
        sock.close()


@pytest.fixture
def dask_settings() -> Iterator[Callable[..., None]]:
    """``set(address=..., ca=..., cert=..., key=...)``: the server-side Dask settings of this process."""
    from mailwarden.settings import get_settings

    with pytest.MonkeyPatch.context() as mp:
        for name in DASK_ENV:
            mp.delenv(name, raising=False)

        def set_(address: str | None = None, ca: Path | None = None, cert: Path | None = None,
                 key: Path | None = None) -> None:
            for name, value in zip(DASK_ENV, (address, ca, cert, key), strict=True):
                if value is None:
                    mp.delenv(name, raising=False)
                else:
                    mp.setenv(name, str(value))
            get_settings.cache_clear()

        yield set_
    get_settings.cache_clear()


def _saved_tenant(tenant_factory: Any, **kw: Any) -> tuple[Any, Any]:
    from flows.reconciliation import reconcile_licenses

    kw.setdefault("users", 10)
    kw.setdefault("messages_per_mailbox", 4)
    block, state = tenant_factory(**kw)
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    return block, state


def _scan_runs(block: Any) -> int:
    from sqlalchemy import func, select

    from mailwarden.store.models import ScanRun
    from tasks.common import store_for

    with store_for(block).session() as s:
        return int(s.scalar(select(func.count()).select_from(ScanRun).where(ScanRun.tenant_id == block.tenant_id))
                   or 0)


def _rule_snapshots(block: Any) -> int:
    from mailwarden.store.repositories import list_rules
    from tasks.common import store_for

    with store_for(block).session() as s:
        return len(list_rules(s, block.tenant_id))


# --- refused before anything is submitted (default suite) ---------------------------------------


@pytest.mark.parametrize("flow_name", ["historic_scan", "rules_audit"])
def test_a_run_cannot_name_a_dask_scheduler(flow_name: str, listener: Listener) -> None:
    """Calling either flow with ``dask_address`` is refused; the attacker's host hears nothing."""
    from prefect.exceptions import ParameterBindError

    import flows.historic_scan
    import flows.rules_audit

    flow: Any = {"historic_scan": flows.historic_scan.historic_scan,
                 "rules_audit": flows.rules_audit.rules_audit}[flow_name]
    with pytest.raises(ParameterBindError, match="dask_address"):
        flow(tenant="contoso.example", task_runner="dask", dask_address=f"tcp://{listener.address}")
    assert listener.connections() == 0


def test_a_deployment_run_naming_a_dask_scheduler_fails_before_any_work(
        tenant_factory: Any, listener: Listener) -> None:
    """Through the Prefect API: the run is created with the parameter, and fails on validation when
    executed as a runner would execute it; no scan was planned and nothing connected out."""
    from prefect import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_engine import run_flow

    from flows.historic_scan import historic_scan

    block, _ = _saved_tenant(tenant_factory)
    deployment: Any = historic_scan.to_deployment(name="security-dask-address")
    assert "dask_address" not in deployment._parameter_openapi_schema.properties  # not in the UI's form
    deployment.apply()
    run: Any = run_deployment("historic-scan/security-dask-address", timeout=0, parameters={
        "tenant": block.primary_domain, "since": SINCE.isoformat(), "task_runner": "dask",
        "dask_address": f"tcp://{listener.address}"})
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run.id)
    state: Any = run_flow(historic_scan, flow_run=flow_run, parameters=flow_run.parameters, return_type="state")
    assert state.is_failed() and "dask_address" in str(state.message)
    assert listener.connections() == 0 and _scan_runs(block) == 0


@pytest.mark.parametrize("flow_name", ["historic_scan", "rules_audit"])
def test_a_scheduler_without_tls_in_settings_is_refused_before_any_work(
        flow_name: str, tenant_factory: Any, listener: Listener, dask_settings: Callable[..., None],
        tmp_path: Path) -> None:
    """``tcp://`` in MAILWARDEN_DASK_ADDRESS (even with TLS files) is refused; so is ``tls://`` without
    the client's certificate and key. Nothing connects, nothing is planned or stored."""
    from flows.historic_scan import historic_scan
    from flows.rules_audit import rules_audit

    block, _ = _saved_tenant(tenant_factory)
    pki = Pki(tmp_path)
    ca, cert, key = pki.ca_file, *pki.issue("mailwarden-flow")

    def run() -> Any:
        if flow_name == "historic_scan":
            return historic_scan(tenant=block.primary_domain, since=SINCE, task_runner="dask")
        return rules_audit(tenant=block.primary_domain, task_runner="dask")

    dask_settings(address=f"tcp://{listener.address}", ca=ca, cert=cert, key=key)
    with pytest.raises(ValueError, match="tls://"):
        run()
    dask_settings(address=listener.address, ca=ca, cert=cert, key=key)  # no scheme: plain TCP to Dask
    with pytest.raises(ValueError, match="tls://"):
        run()
    dask_settings(address=f"tls://{listener.address}", ca=ca)
    with pytest.raises(ValueError, match="MAILWARDEN_DASK_TLS_CERT_FILE"):
        run()
    dask_settings(address=f"tls://{listener.address}", ca=ca, cert=cert, key=tmp_path / "absent.key")
    with pytest.raises(ValueError, match="MAILWARDEN_DASK_TLS_KEY_FILE"):
        run()
    assert listener.connections() == 0
    assert _scan_runs(block) == 0 and _rule_snapshots(block) == 0


# --- certificates made here (tests/scaleout/_tls.py) --------------------------------------------


def _assert_refused(address: str, security: Any = None) -> None:
    """A ``distributed.Client`` to ``address`` with ``security`` cannot connect."""
    from distributed import Client

    with pytest.raises((OSError, TimeoutError)):
        Client(address, security=security, timeout=3, set_as_default=False)


def _tls_without_a_client_certificate_is_refused(address: str, ca_file: str) -> None:
    """A TLS client that trusts the scheduler but shows no certificate gets no further than the handshake
    (distributed's own client will not even try without one, so this one is plain ``ssl``)."""
    import ssl

    host, port = address.removeprefix("tls://").rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.check_hostname = False
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            with ctx.wrap_socket(raw) as tls:  # TLS 1.3: the server's refusal arrives with the first read
                tls.sendall(b"\0" * 8)
                if tls.recv(1) == b"":
                    raise ConnectionResetError("closed by the scheduler")


def _refused_without_the_certificate(address: str, tmp_path: Path, ca_file: str | None = None) -> None:
    """Plain TCP, TLS without a client certificate, and TLS with a stranger's certificate are refused."""
    from distributed import Security

    assert address.startswith("tls://")
    _assert_refused("tcp://" + address.removeprefix("tls://"))
    if ca_file is not None:
        _tls_without_a_client_certificate_is_refused(address, ca_file)
    stranger = Pki(tmp_path / "stranger", "an attacker's CA")
    cert, key = stranger.issue("attacker")
    _assert_refused(address, Security(require_encryption=True, tls_ca_file=ca_file or str(stranger.ca_file),
                                      tls_client_cert=str(cert), tls_client_key=str(key)))


def _cert_tenant(tenant_factory: Any, embedded: Any) -> tuple[Any, Any]:
    """A hybrid tenant (EWS service account with a password) whose basic app signs in with a
    certificate, and whose advanced app has a client secret: every kind of secret a block holds."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from blocks.m365 import M365App
    from deployments.embedded import BASIC_APP_ID
    from flows.reconciliation import reconcile_licenses
    from tests.mailbox._onprem import hybrid_tenant

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailwarden-basic-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    embedded.sandbox.register_app(BASIC_APP_ID, certificate_pem=cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    block, state, _ = hybrid_tenant(tenant_factory, embedded, onprem_share=0.3, users=10, messages_per_mailbox=4,
                                    phishing_rate=0.25)
    app = M365App(client_id=BASIC_APP_ID, certificate_private_key=SecretStr(key_pem),
                  certificate_thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(), tier="basic",
                  redirect_uri=block.app.redirect_uri)
    block = block.model_copy(update={"app": app})
    block.save(block.block_name, overwrite=True)
    reconcile_licenses(tenant=block.primary_domain)
    return block, state


def _scan_rows(out: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(r["mailbox"], r["status"], r["seen"], r["skipped"], r["categories"], r.get("side")) for r in out["rows"]]


# --- shown working, with real Dask clusters (slow suite) ----------------------------------------


@pytest.mark.slow
def test_the_local_cluster_refuses_whoever_lacks_its_generated_certificate(tmp_path: Path) -> None:
    """The per-run LocalCluster listens on tls:// with a certificate made for the run: its own client
    works; plain TCP, TLS without a certificate and TLS with another certificate are refused."""
    from tasks.runners import build_runner

    runner: Any = build_runner("dask", 2, dask_workers=1)
    with runner:
        client = runner.client
        address = client.scheduler.address
        assert address.startswith("tls://127.0.0.1:")
        assert client.submit(pow, 2, 10, pure=False).result(timeout=60) == 1024  # its own workers answer
        _refused_without_the_certificate(address, tmp_path, ca_file=None)


@pytest.mark.slow
def test_rules_audit_on_the_local_cluster_sends_block_names_not_blocks(
        tenant_factory: Any, embedded: Any) -> None:
    """rules-audit on worker processes finds what the thread pool finds; the workers load the block
    by name, and no secret of the tenant is in what crossed to the cluster."""
    from flows.rules_audit import rules_audit

    block, _ = _cert_tenant(tenant_factory, embedded)
    threads = rules_audit(tenant=block.primary_domain, concurrency=2)
    with captured_dask_traffic() as traffic:
        dask = rules_audit(tenant=block.primary_domain, concurrency=2, task_runner="dask", dask_workers=1)
    key = sorted((f["mailbox"], f["rule_key"], f["risk"], f["hidden"]) for f in threads["suspicious"])
    assert key and key == sorted((f["mailbox"], f["rule_key"], f["risk"], f["hidden"]) for f in dask["suspicious"])
    assert dask["mailboxes"] == threads["mailboxes"] and not dask["failed"]
    assert traffic.graphs >= dask["mailboxes"] and traffic.contains(block.block_name)  # the capture saw the tasks
    secrets = tenant_secrets(block)
    assert {"app.certificate_private_key", "advanced_app.client_secret", "ews_password"} <= set(secrets)
    assert_no_secret(traffic, secrets)


@pytest.mark.slow
def test_historic_scan_over_mutual_tls_matches_threads_and_carries_no_secret(
        tenant_factory: Any, embedded: Any, dask_settings: Callable[..., None], tmp_path: Path) -> None:
    """A scheduler that requires client certificates, named only in the server's settings: the scan
    completes there with the thread pool's counts; no tenant secret crossed; strangers are refused."""
    from flows.historic_scan import historic_scan

    block, _ = _cert_tenant(tenant_factory, embedded)
    pki = Pki(tmp_path / "pki")
    flow_cert, flow_key = pki.issue("mailwarden-flow")
    threads = historic_scan(tenant=block.primary_domain, since=SINCE, concurrency=2, retry_delay_seconds=0)
    with contextlib.ExitStack() as stack:
        cluster = stack.enter_context(mutual_tls_cluster(pki, n_workers=1, threads_per_worker=2))
        address = cluster.scheduler_address
        assert address.startswith("tls://")
        _refused_without_the_certificate(address, tmp_path, ca_file=str(pki.ca_file))
        dask_settings(address=address, ca=pki.ca_file, cert=flow_cert, key=flow_key)
        traffic = stack.enter_context(captured_dask_traffic())
        # another window start: its own scan key, so every mailbox is scanned again
        dask = historic_scan(tenant=block.primary_domain, since=SINCE + dt.timedelta(days=1), concurrency=2,
                             retry_delay_seconds=0, task_runner="dask")
    assert dask["scope"] != threads["scope"] and not dask["failed"] and not threads["failed"]
    assert _scan_rows(dask) == _scan_rows(threads) and {r[5] for r in _scan_rows(dask)} == {"cloud", "on-premises"}
    assert dask["categories"] == threads["categories"] and dask["categories"].get("malicious", 0) > 0
    assert not any(r["skipped"] for r in dask["rows"])
    assert traffic.graphs >= len(dask["rows"]) and traffic.contains(block.block_name)
    secrets = tenant_secrets(block)
    assert {"app.certificate_private_key", "advanced_app.client_secret", "ews_password"} <= set(secrets)
    assert_no_secret(traffic, {**secrets, "the flow's Dask TLS key": flow_key.read_text()})
