"""The consent callback refuses oversize input, and no access log keeps a state, code or token
(issue 16, attacks 6 and 9), tried over real HTTP.

An attacker who can reach the callback sends a genuine-looking consent redirect padded with a
huge query string or header block: it is refused with a 4xx and the waiting onboarding run is
neither resumed nor its consent link used up. And whoever reads the server's logs (uvicorn's
access log and ours) finds the paths that were requested but never the consent ``state``, a
``code``, a ``validationToken`` or a ``clientState``.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from deployments.callback import CallbackServer, create_app
from mailwarden.onboarding import new_state
from mailwarden.store import Store
from mailwarden.store.models import ConsentRequest
from mailwarden.store.repositories import create_consent_request

TENANT = "3c5a2b1e-1111-4222-8333-944455556666"
ACCESS = "uvicorn.access"


class FakeRuns:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.resumed: list[tuple[str, dict[str, Any]]] = []

    async def state_of(self, flow_run_id: str) -> str | None:
        return "PAUSED" if flow_run_id == self.run_id else None

    async def resume(self, flow_run_id: str, run_input: dict[str, Any]) -> None:
        self.resumed.append((flow_run_id, run_input))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'callback.sqlite'}")
    s.migrate()
    return s


@pytest.fixture
def runs() -> FakeRuns:
    return FakeRuns(str(uuid.uuid4()))


@pytest.fixture
def state(store: Store, runs: FakeRuns) -> str:
    value = new_state()
    with store.session() as s:
        create_consent_request(s, value, "contoso.com", flow_run_id=runs.run_id, tier="basic",
                               ttl=timedelta(minutes=5))
    return value


@pytest.fixture
def server(store: Store, runs: FakeRuns) -> Iterator[CallbackServer]:
    with CallbackServer(create_app(store, runs=runs)) as srv:
        yield srv


def unused(store: Store) -> bool:
    with store.session() as s:
        return all(r.used_at is None for r in s.scalars(select(ConsentRequest)))


def raw_get(port: int, target: str, headers: list[tuple[str, str]]) -> int:
    head = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        reply = sock.recv(65536)
    return int(reply.split(b" ", 2)[1])


def test_a_consent_redirect_with_an_oversize_query_string_is_refused_and_changes_nothing(
    server: CallbackServer, store: Store, runs: FakeRuns, state: str
) -> None:
    r = httpx.get(server.redirect_uri(), params={"admin_consent": "True", "tenant": TENANT, "state": state,
                                                 "pad": "x" * 6000})
    assert r.status_code == 414
    assert runs.resumed == [] and unused(store)
    # the same redirect without the padding still works: the limit is above any real one
    ok = httpx.get(server.redirect_uri(), params={"admin_consent": "True", "tenant": TENANT, "state": state})
    assert ok.status_code == 200 and len(runs.resumed) == 1


@pytest.mark.parametrize("headers", [
    [(f"X-Pad-{n}", "y" * 200) for n in range(70)],  # ~14 KiB in 70 headers
    [(f"X-{n}", "1") for n in range(150)],  # too many fields
], ids=["14-KiB-of-headers", "150-headers"])
def test_a_consent_redirect_with_oversize_headers_is_refused_and_changes_nothing(
    server: CallbackServer, store: Store, runs: FakeRuns, state: str, headers: list[tuple[str, str]]
) -> None:
    target = f"/consent/callback?admin_consent=True&tenant={TENANT}&state={state}"
    assert raw_get(server.port, target, headers) == 431
    assert runs.resumed == [] and unused(store)


def test_one_40_kb_header_arriving_in_one_read_is_refused_too(
    server: CallbackServer, store: Store, runs: FakeRuns, state: str
) -> None:
    """h11's 16 KiB bound applies only to a head still incomplete after a read: this one passes it."""
    target = f"/consent/callback?admin_consent=True&tenant={TENANT}&state={state}"
    assert raw_get(server.port, target, [("X-Pad", "z" * 40_000)]) == 431
    assert runs.resumed == [] and unused(store)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_log() -> Iterator[Capture]:
    """uvicorn's access log switched on (the embedded server keeps it at WARNING) and captured."""
    logger = logging.getLogger(ACCESS)
    capture, level = Capture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def test_access_logs_carry_no_state_code_token_or_client_state(
    server: CallbackServer, store: Store, runs: FakeRuns, state: str, access_log: Capture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    forged_state, code = new_state(), "0.AXoA" + uuid.uuid4().hex
    token = "Validation: Testing client application reachability " + uuid.uuid4().hex
    client_state = "client-state-" + uuid.uuid4().hex
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/consent/callback", params={"admin_consent": "True", "tenant": TENANT,
                                                  "state": state}).status_code == 200
        assert c.get("/consent/callback", params={"admin_consent": "True", "tenant": TENANT,
                                                  "state": forged_state}).status_code == 400
        assert c.get("/consent/callback", params={"code": code, "state": forged_state}).status_code == 400
        assert c.post("/notifications", params={"validationToken": token}).text == token
        assert c.post("/lifecycle", params={"validationToken": token}).status_code == 200
        refused = c.post("/notifications", params={"clientState": client_state},
                         json={"value": [{"subscriptionId": str(uuid.uuid4()), "clientState": client_state}]})
        assert refused.status_code == 403
    assert len(runs.resumed) == 1
    logged = "\n".join(access_log.lines)
    assert logged.count("/consent/callback") == 3 and logged.count("/notifications") == 2, logged
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]  # not the client's
    assert any("refused" in line for line in ours)  # the server did log the refusals, without the values
    everything = "\n".join([logged, *ours])
    for secret in (state, forged_state, code, token, client_state):
        assert secret not in everything


def test_serve_callback_starts_uvicorn_with_the_query_kept_out_of_its_access_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    from deployments.callback import serve_callback

    started: list[Any] = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: started.append(self.config))
    logger = logging.getLogger(ACCESS)
    monkeypatch.setattr(logger, "filters", [])  # as in a fresh process: nothing installed yet
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "level", logger.level)
    serve_callback(host="127.0.0.1", port=0)
    assert len(started) == 1 and started[0].log_level == "info"  # it does write access lines
    capture = Capture()
    logger.handlers = [capture]
    secret = new_state()
    # the line uvicorn's access logger writes for each request
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", f"/consent/callback?state={secret}", "1.1", 200)
    assert capture.lines and "/consent/callback" in capture.lines[-1]
    assert secret not in capture.lines[-1]
