"""After the main flows, no client secret, access token or generated password is anywhere.

A fresh tenant is onboarded through the consent callback (advanced tier: two consents, with a
notification), then given an on-premises EWS service account (password) and a basic app that
signs in with a certificate (private key); it is reconciled, scanned with a quarantine policy
(threads, and once more on a local Dask cluster), cleaned by a threat response, audited (events
and a notification) and contained by the takeover playbook (a real random password reset,
auto-approved), with Prefect's result persistence on. The sandbox hands out the tokens and sets
the password, so the suite captures them there; the consent ``state`` comes from the redirect,
and the receiver is sent a validation handshake and a forged notification with secrets of their
own. Then it searches the Prefect server (logs, artifacts, events, flow and task runs), the
notifications received, every value of every table of the store, the store file itself, every
file under the data directory, Prefect's result storage, the callback's and receiver's access
and application logs (``uvicorn.access``, ``mailwarden.*``) and what crossed to the Dask workers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets as random_secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ._support import (
    QUARANTINE_POLICY,
    SINCE,
    admin_consents,
    all_text_in_store,
    call_back,
    consent_url,
    in_thread,
    onboard_params,
    store,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]


def _paged(read: Any, page: int = 200) -> Iterator[Any]:
    offset = 0
    while True:
        items = list(read(limit=page, offset=offset))
        yield from items
        if len(items) < page:
            return
        offset += page


def _events(tenant_id: str, timeout: float = 60.0) -> list[str]:
    """Every event on the server, once the audit's ``mailwarden.rule.suspicious`` ones have landed."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    while True:
        texts: list[str] = []
        with get_client(sync_client=True) as client:
            page = client.read_events(limit=50)
            while True:
                texts += [e.model_dump_json() for e in page.events]
                if not page.next_page:
                    break
                page = client.read_events_page(str(page.next_page))
        if any("mailwarden.rule.suspicious" in t and tenant_id in t for t in texts):
            return texts
        assert time.monotonic() < deadline, "the rules audit's events never reached the server"
        time.sleep(0.5)  # polling the server until the event pipeline has written them


def _prefect_texts() -> dict[str, list[str]]:
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        logs = [entry.message for entry in _paged(client.read_logs)]
        artifacts = [f"{a.key} {a.description} {a.data}" for a in _paged(client.read_artifacts)]
        runs = [json.dumps(r.parameters, default=str) + f" {r.name} {r.state.message if r.state else ''}"
                for r in _paged(client.read_flow_runs)]
        task_runs = [f"{t.name} {t.state.message if t.state else ''}" for t in _paged(client.read_task_runs)]
    return {"logs": logs, "artifacts": artifacts, "flow runs": runs, "task runs": task_runs}


def _files(root: Path) -> dict[str, str]:
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            out[str(path.relative_to(root))] = path.read_bytes().decode("latin-1")
    return out


class _Lines(logging.Handler):
    """Keeps every record of the loggers it is attached to, formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()} {record.args!r}")


@contextlib.contextmanager
def _server_logs(*names: str) -> Iterator[_Lines]:
    """Capture these loggers at INFO and below (the test servers run uvicorn at ``warning``, so its
    access log is turned on here: a search of a log that was never written would prove nothing)."""
    keep = _Lines()
    before = {}
    for name in names:
        logger = logging.getLogger(name)
        before[name] = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(keep)
    try:
        yield keep
    finally:
        for name in names:
            logger = logging.getLogger(name)
            logger.removeHandler(keep)
            logger.setLevel(before[name])


@contextlib.contextmanager
def _results_persisted(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Prefect's result persistence on, into ``folder``: for this thread (settings context) and for
    the threads flows are started on (environment)."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, PREFECT_RESULTS_PERSIST_BY_DEFAULT, temporary_settings

    for name, value in (("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "true"), ("PREFECT_RESULTS_LOCAL_STORAGE_PATH",
                                                                        str(folder)),
                        ("PREFECT_LOCAL_STORAGE_PATH", str(folder))):
        monkeypatch.setenv(name, value)
    with temporary_settings({PREFECT_RESULTS_PERSIST_BY_DEFAULT: True, PREFECT_LOCAL_STORAGE_PATH: folder}):
        yield


def _with_ews_and_a_certificate(tenant: str, state: Any, embedded: Any) -> tuple[Any, dict[str, str]]:
    """The onboarded tenant's block given an on-premises EWS service account and a basic app that
    signs in with a certificate registered in the sandbox; saved. Returns it and its new secrets."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    from m365sandbox.ews import PATH, add_onprem_account
    from pydantic import SecretStr

    from blocks.m365 import M365App, M365Tenant

    block: Any = M365Tenant.load(tenant)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailwarden-basic-app")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    embedded.sandbox.register_app(block.app.client_id, certificate_pem=cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    user, password = f"svc-ews@{state.domain}", random_secrets.token_urlsafe(18)
    add_onprem_account(state, user, password)
    app = M365App(client_id=block.app.client_id, certificate_private_key=SecretStr(key_pem),
                  certificate_thumbprint=cert.fingerprint(hashes.SHA1()).hex().upper(), tier="basic",
                  redirect_uri=block.app.redirect_uri)
    block = block.model_copy(update={
        "app": app, "ews_url": f"{embedded.url}{PATH}", "ews_auth_type": "basic", "ews_username": user,
        "ews_password": SecretStr(password), "ews_ca_pem": Path(embedded.ca_file).read_text()})
    block.save(block.block_name, overwrite=True)
    key_lines = [line for line in key_pem.splitlines() if line and not line.startswith("-----")]
    return block, {"EWS password": password, "certificate private key": key_pem,
                   "certificate private key (a line of it)": key_lines[len(key_lines) // 2]}


def _touch_the_receiver(callback: Any) -> dict[str, str]:
    """Graph's validation handshake and a forged notification, each carrying a secret of its own."""
    import httpx

    token, client_state = random_secrets.token_urlsafe(24), random_secrets.token_urlsafe(24)
    forged = {"value": [{"subscriptionId": str(uuid.uuid4()), "clientState": client_state,
                         "changeType": "created", "tenantId": str(uuid.uuid4()),
                         "resource": "Users/x/Messages/y"}]}
    base = callback.redirect_uri().split("/consent", 1)[0]
    with httpx.Client(trust_env=False, timeout=30) as http:
        shake = http.post(f"{base}/notifications", params={"validationToken": token})
        assert shake.status_code == 200 and shake.text == token
        refused = http.post(f"{base}/notifications", json=forged)
        assert refused.status_code in (202, 403)
    return {"receiver validation token": token, "forged notification clientState": client_state}


def test_no_client_secret_token_or_generated_password_reaches_logs_artifacts_events_or_storage(
        embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], hook: Any, hook_block: str,
        callback: Any, issued: dict[str, list[str]], caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from m365sandbox.state import verify_password

    from flows.historic_scan import historic_scan
    from flows.onboarding import onboard_tenant
    from flows.reconciliation import reconcile_licenses
    from flows.rules_audit import rules_audit
    from flows.takeover_response import takeover_response
    from flows.threat_response import ThreatQuery, threat_response
    from tests._policy import ALL_UNATTENDED, UNATTENDED_RESPONSE, save_policy
    from tests.security._dask_capture import assert_no_secret, captured_dask_traffic, leaked, tenant_secrets

    _, state = tenant_factory(users=12, messages_per_mailbox=4, phishing_rate=0.2, consent=None, onprem_share=0.3)
    hook.received.clear()
    results_dir = tmp_path / "prefect-results"
    consent_states: dict[str, str] = {}
    with _results_persisted(results_dir, monkeypatch), \
            _server_logs("uvicorn.access", "uvicorn.error", "mailwarden") as server_log:
        thread, box = in_thread(onboard_tenant, **onboard_params(state.domain, app_blocks, embedded,
                                                                   tier="advanced", notify_target=hook_block))
        for tier in ("basic", "advanced"):
            redirect = admin_consents(consent_url(state.domain, tier, thread), embedded.ca_file)
            consent_states[f"consent state ({tier})"] = parse_qs(urlsplit(redirect).query)["state"][0]
            page = call_back(redirect)
            assert page.status_code == 200 and "Connected" in page.text
        thread.join(120)
        assert box["state"].is_completed(), box["state"]
        tenant = box["state"].result()["block_name"]
        receiver_secrets = _touch_the_receiver(callback)

        block, block_secrets = _with_ews_and_a_certificate(tenant, state, embedded)
        save_policy(block, **ALL_UNATTENDED, **UNATTENDED_RESPONSE)  # the operator lets both run unattended
        imid = next(iter(state.truth.campaigns))
        victim, rule_id = next((u, r) for u, r in sorted(state.truth.malicious_rules) if "\\" not in r)
        results = [
            reconcile_licenses(tenant=tenant, notify=hook_block),
            historic_scan(tenant=tenant, since=SINCE, policy=QUARANTINE_POLICY, concurrency=4,
                          retry_delay_seconds=0),
        ]
        with captured_dask_traffic() as traffic:  # a local cluster: what its workers are sent
            results.append(historic_scan(tenant=tenant, since=SINCE.replace(year=SINCE.year + 1), concurrency=2,
                                         retry_delay_seconds=0, task_runner="dask", dask_workers=1))
        results += [
            threat_response(tenant=tenant, query=ThreatQuery(internet_message_id=imid), approval="auto"),
            rules_audit(tenant=tenant, notify=hook_block, concurrency=4),
            takeover_response(tenant=tenant, user=victim, notify=hook_block,
                              evidence={"rule_key": f"graph:{rule_id}", "user": victim, "reasons": ["planted"]}),
        ]
    steps = {s["step"]: s["result"] for s in results[-1]["steps"]}
    assert steps["reset_password"] == "done"
    scans = results[1:3]
    assert all(not r["failed"] for r in scans)
    assert {r.get("side") for r in scans[0]["rows"]} == {"cloud", "on-premises"}  # EWS was used

    # what must stay secret, taken from the sandbox's side
    password = issued["passwords"][-1]
    change = [p for p in state.password_changes if p.user_id == victim][-1]
    assert verify_password(password, change.password_hash)  # the captured password is the one set
    tokens = issued["tokens"]
    assert len(tokens) >= 3  # basic app (Graph, Exchange audiences), advanced app (Graph)
    secrets = {"basic client secret": embedded.basic_app.client_secret.get_secret_value(),
               "advanced client secret": embedded.advanced_app.client_secret.get_secret_value(),
               "reset password": password, **block_secrets, **receiver_secrets}
    for i, token in enumerate(tokens):
        secrets[f"access token {i}"] = token
        secrets[f"access token {i} signature"] = token.rsplit(".", 1)[1]

    # where it must not be
    haystacks = _prefect_texts()
    haystacks["events"] = _events(state.id)
    assert hook.event.wait(10)
    haystacks["notifications"] = [json.dumps(n) for n in hook.received]
    haystacks["store rows"] = [f"{t}.{c}={v}" for t, c, v in all_text_in_store()]
    db = Path(str(store().engine.url.database))
    haystacks["store files"] = [p.read_bytes().decode("latin-1") for p in db.parent.glob(db.name + "*")]
    data_dir = Path(os.environ["MAILWARDEN_DATA_DIR"])
    haystacks.update({f"data dir {name}": [text] for name, text in
                      _files(data_dir).items()})
    haystacks["test process logs"] = [caplog.text]
    haystacks["flow results"] = [json.dumps(r, default=str) for r in results]
    haystacks.update({f"result storage {name}": [text] for name, text in _files(results_dir).items()})
    haystacks["callback and receiver logs"] = server_log.lines

    # the searches see the runs (a search of nothing would pass too)
    joined = {where: "\n".join(texts) for where, texts in haystacks.items()}
    assert "quarantine" in joined["artifacts"].lower() and "takeover" in joined["logs"].lower()
    assert state.id in joined["events"] and state.id in joined["store rows"]
    assert "connected" in joined["notifications"] and "takeover response" in joined["notifications"].lower()
    assert "reset_password" in joined["store rows"]
    access = "\n".join(line for line in server_log.lines if line.startswith("uvicorn.access"))
    assert "/consent/callback" in access and "/notifications" in access  # the access log was written
    assert any(name.startswith("result storage") for name in joined)  # results were persisted
    assert traffic.graphs >= len(results[2]["rows"]) > 0  # the Dask scan's tasks went to the cluster
    leaks = [(what, where) for where, text in joined.items() for what, value in secrets.items() if value in text]
    # the consent state is in the consent link the run publishes, by design; never in a server's log
    leaks += [(what, where) for where in ("callback and receiver logs", "test process logs")
              for what, value in consent_states.items() if value in joined[where]]
    assert leaks == []
    assert leaked(traffic.data(), secrets) == []  # nothing of them crossed to the Dask workers
    assert {"app.certificate_private_key", "advanced_app.client_secret", "ews_password"} <= set(tenant_secrets(block))
    assert_no_secret(traffic, tenant_secrets(block))
