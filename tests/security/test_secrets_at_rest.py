"""Secrets at rest (issue 16, attack 9), driven as a local attacker or a careless operator would.

Pins: a CA file planted where mailwarden writes the EWS CA (the old /tmp path, the new path in the
data directory, a symlink there) is never trusted, so an attacker's TLS server gets no EWS
password; the SQLite store and its siblings are created owner-only; a store URL with a password in
its query string is refused without echoing it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from m365sandbox.tls import TlsFiles, write_tls_files
from pydantic import SecretStr

from mailwarden.mailbox.ews import EwsConnection, EwsMailbox, EwsSettings, OnPremUnavailable
from mailwarden.settings import get_settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "data"
    monkeypatch.setenv("MAILWARDEN_DATA_DIR", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


class TlsListener:
    """A TLS server with the attacker's certificate that records every byte it decrypts."""

    def __init__(self, tls: TlsFiles) -> None:
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(tls.cert_file, tls.key_file)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = int(self.sock.getsockname()[1])
        self._stop = threading.Event()
        self.connections = 0
        self.received = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            raw.settimeout(5)
            try:
                with self.ctx.wrap_socket(raw, server_side=True) as conn:
                    self.received += conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 500 Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except (OSError, ssl.SSLError):
                raw.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def attacker(tmp_path: Path) -> Iterator[tuple[TlsFiles, TlsListener]]:
    tls = write_tls_files(tmp_path / "attacker")
    listener = TlsListener(tls)
    yield tls, listener
    listener.close()


def _ews(port: int, ca_pem: str, password: str) -> EwsMailbox:
    settings = EwsSettings(url=f"https://127.0.0.1:{port}/EWS/Exchange.asmx", username="svc-ews@victim.example",
                           password=SecretStr(password), auth_type="basic", ca_pem=ca_pem)
    return EwsMailbox(EwsConnection(settings), "mb-1", "ceo@victim.example")


@pytest.mark.parametrize("plant", ["old /tmp path", "data dir path", "symlink at the data dir path"])
def test_a_planted_ews_ca_file_is_not_trusted_and_the_attacker_gets_no_password(
        plant: str, data_dir: Path, tmp_path: Path, attacker: tuple[TlsFiles, TlsListener]) -> None:
    attacker_tls, listener = attacker
    genuine_pem = write_tls_files(tmp_path / "genuine").ca_file.read_text()  # the tenant's internal CA
    attacker_pem = attacker_tls.ca_file.read_text()
    digest = hashlib.sha256(genuine_pem.encode()).hexdigest()
    old_path = Path(tempfile.gettempdir()) / f"mailwarden-ews-ca-{digest[:16]}.pem"
    new_path = data_dir / "ca" / f"ews-ca-{digest}.pem"
    planted_elsewhere = tmp_path / "planted.pem"
    planted_elsewhere.write_text(attacker_pem)
    if plant == "old /tmp path":
        old_path.write_text(attacker_pem)
    else:
        new_path.parent.mkdir(parents=True)
        if plant == "data dir path":
            new_path.write_text(attacker_pem)
        else:
            new_path.symlink_to(planted_elsewhere)
    password = "ews-" + os.urandom(8).hex()
    try:
        with pytest.raises(OnPremUnavailable, match=r"not trusted|unreachable"):
            list(_ews(listener.port, genuine_pem, password).iter_messages())
    finally:
        old_path.unlink(missing_ok=True)
    assert listener.connections >= 1  # the client did try the attacker's host
    assert listener.received == b""  # no request (no Authorization header, no password) got through
    assert password.encode() not in listener.received
    # the file the client trusts is the tenant's CA, owner-only, in a private folder of the data dir
    assert not new_path.is_symlink() and new_path.read_text() == genuine_pem
    assert stat.S_IMODE(new_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(new_path.parent.stat().st_mode) == 0o700
    assert planted_elsewhere.read_text() == attacker_pem  # a symlink's target is never written through


def test_the_ews_ca_file_is_written_under_the_data_dir_and_nothing_under_tmp(data_dir: Path, tmp_path: Path) -> None:
    pem = write_tls_files(tmp_path / "genuine").ca_file.read_text()
    before = set(Path(tempfile.gettempdir()).glob("mailwarden-ews-ca-*"))
    settings = EwsSettings(url="https://127.0.0.1:1/EWS/Exchange.asmx", username="u", password=SecretStr("p"),
                           ca_pem=pem)
    trusted = Path(str(settings.trust()))
    assert trusted.parent == (data_dir / "ca").absolute() and trusted.read_text() == pem
    assert set(Path(tempfile.gettempdir()).glob("mailwarden-ews-ca-*")) == before
    assert [p.name for p in trusted.parent.iterdir()] == [trusted.name]  # no temporary file left behind
    assert settings.trust() == str(trusted)  # a second use checks the same file and keeps it


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_default_sqlite_store_and_its_wal_files_are_owner_only(data_dir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import select

    from mailwarden.store import close_stores, open_store
    from mailwarden.store.models import Tenant

    monkeypatch.delenv("MAILWARDEN_STORE_URL", raising=False)
    get_settings.cache_clear()
    url = get_settings().effective_store_url
    old_umask = os.umask(0o022)  # the usual umask: files 0644, folders 0755 unless the store says otherwise
    try:
        store = open_store(url)
        store.migrate()
        with store.session() as s:
            s.add(Tenant(id="t-modes", primary_domain="modes.example"))
        with store.engine.connect() as conn:  # a second connection while the first is pooled: WAL in use
            assert conn.scalar(select(Tenant.primary_domain)) == "modes.example"
            db = Path(str(store.engine.url.database))
            files = sorted(db.parent.glob(db.name + "*"))
            assert {p.name for p in files} >= {db.name, db.name + "-wal", db.name + "-shm"}
            assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}
    finally:
        os.umask(old_umask)
        close_stores()
    assert db.parent == data_dir and _mode(data_dir) == 0o700


def test_a_store_created_world_readable_before_is_made_owner_only_on_first_connect(tmp_path: Path) -> None:
    from mailwarden.store import Store

    db = tmp_path / "old.sqlite"
    db.touch(mode=0o644)
    os.chmod(db, 0o644)
    store = Store(f"sqlite:///{db}")
    try:
        store.migrate()
        assert _mode(db) == 0o600 and _mode(db.with_name(db.name + "-wal")) == 0o600
    finally:
        store.dispose()


@pytest.mark.parametrize("key", ["password", "PASSWORD", "passwd", "Pwd"])
def test_a_store_url_with_a_password_in_its_query_is_refused_without_echoing_it(
        key: str, data_dir: Path) -> None:
    from mailwarden.store import Store, open_store
    from mailwarden.store.engine import _stores

    secret = "s3cret-" + os.urandom(6).hex()
    for url in (f"postgresql://mw@db.example/mw?{key}={secret}",
                f"sqlite:///{data_dir / 'q.sqlite'}?{key}={secret}"):
        before = dict(_stores)
        with pytest.raises(ValueError, match="password in its query string") as err:
            open_store(url)
        with pytest.raises(ValueError, match="password in its query string"):
            Store(url)
        assert secret not in str(err.value) and "db.example" not in str(err.value)
        assert err.value.__cause__ is None and err.value.__context__ is None
        assert _stores == before  # nothing cached, no engine kept with the secret
    assert not (data_dir / "q.sqlite").exists()  # refused before any file was made


@pytest.mark.usefixtures("prefect_harness")
def test_offboarding_drops_the_tenants_tokens_clients_and_ews_sessions_and_keeps_the_others(
        tenant_factory: Any, embedded: Any) -> None:
    """After ``offboard-tenant``, this process holds no token, client or EWS session of that tenant:
    a client reference kept from before can no longer act, and a second tenant's are untouched."""
    from exchangelib.protocol import CachingProtocol

    from flows.onboarding import offboard_tenant
    from mailwarden.graph import cached_token_tenants
    from mailwarden.mailbox import ews
    from tasks import common
    from tests.mailbox._onprem import hybrid_tenant

    gone, gone_state, onprem = hybrid_tenant(tenant_factory, embedded, users=10, messages_per_mailbox=1)
    stays, _ = tenant_factory(users=10, messages_per_mailbox=1, consent="basic")
    for block in (gone, stays):
        block.save(block.block_name, overwrite=True)
    clients = {}
    for block in (gone, stays):
        clients[block.tenant_id] = (common.graph_client_for(block), common.exchange_client_for(block))
        clients[block.tenant_id][0].get("/users", params={"$top": "1"})
        clients[block.tenant_id][1].get_mailboxes()
    ews_settings = gone.ews_settings()
    assert ews_settings is not None
    conn = ews.connection_for(ews_settings)
    ews.EwsMailbox(conn, onprem[0], gone_state.users[onprem[0]]["mail"]).folders()  # a live EWS session
    endpoint_keys = {k for k in CachingProtocol._protocol_cache  # every tenant's EWS is on one sandbox URL
                     if k[0] == ews_settings.url and k[1].username == ews_settings.username}
    assert endpoint_keys and {gone.tenant_id, stays.tenant_id} <= cached_token_tenants()

    result = offboard_tenant(gone.block_name)

    assert result["dropped"]["clients"] == 2 and result["dropped"]["token_caches"] >= 1
    assert result["dropped"]["ews_connections"] == 1
    assert gone.tenant_id not in cached_token_tenants()
    assert not [k for k in common._clients if k[0] == gone.tenant_id]
    assert not [c for t, c in common._retired if t == gone.tenant_id]
    assert not [k for k in ews._CONNECTIONS if (k[0], k[1]) == (ews_settings.url, ews_settings.username)]
    assert not endpoint_keys & set(CachingProtocol._protocol_cache)
    graph, exchange = clients[gone.tenant_id]
    with pytest.raises(RuntimeError, match="closed"):
        graph.get("/users", params={"$top": "1"})
    with pytest.raises(RuntimeError, match="closed"):
        exchange.get_mailboxes()
    # the other tenant keeps its clients and its token, and they still work
    assert stays.tenant_id in cached_token_tenants()
    assert common.graph_client_for(stays) is clients[stays.tenant_id][0]
    assert clients[stays.tenant_id][0].get("/users", params={"$top": "1"})
