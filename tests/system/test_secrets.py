"""After the main flows, no client secret, access token or generated password is anywhere.

A fresh tenant is onboarded through the consent callback (advanced tier: two consents, with a
notification), reconciled, scanned with a quarantine policy, cleaned by a threat response,
audited (events and a notification) and contained by the takeover playbook (a real random
password reset, auto-approved). The sandbox hands out the tokens and sets the password, so the
suite captures them there; then it searches the Prefect server (logs, artifacts, events, flow
and task runs), the notifications received, every value of every table of the store, the store
file itself and every file under the data directory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def test_no_client_secret_token_or_generated_password_reaches_logs_artifacts_events_or_storage(
        embedded: Any, tenant_factory: Any, app_blocks: dict[str, str], hook: Any, hook_block: str,
        issued: dict[str, list[str]], caplog: pytest.LogCaptureFixture) -> None:
    from flows.historic_scan import historic_scan
    from flows.onboarding import onboard_tenant
    from flows.reconciliation import reconcile_licenses
    from flows.rules_audit import rules_audit
    from flows.takeover_response import takeover_response
    from flows.threat_response import ThreatQuery, threat_response
    from mailwarden.sandbox.state import verify_password

    _, state = tenant_factory(users=12, messages_per_mailbox=4, phishing_rate=0.2, consent=None)
    hook.received.clear()
    thread, box = in_thread(onboard_tenant, **onboard_params(state.domain, app_blocks, embedded, tier="advanced",
                                                               notify_target=hook_block))
    for tier in ("basic", "advanced"):
        page = call_back(admin_consents(consent_url(state.domain, tier, thread), embedded.ca_file))
        assert page.status_code == 200 and "Connected" in page.text
    thread.join(120)
    assert box["state"].is_completed(), box["state"]
    tenant = box["state"].result()["block_name"]

    imid = next(iter(state.truth.campaigns))
    victim, rule_id = next((u, r) for u, r in sorted(state.truth.malicious_rules) if "\\" not in r)
    results = [
        reconcile_licenses(tenant=tenant, notify=hook_block),
        historic_scan(tenant=tenant, since=SINCE, policy=QUARANTINE_POLICY, concurrency=4, retry_delay_seconds=0),
        threat_response(tenant=tenant, query=ThreatQuery(internet_message_id=imid), approval="auto"),
        rules_audit(tenant=tenant, notify=hook_block, concurrency=4),
        takeover_response(tenant=tenant, user=victim, demo_auto_approve=True, notify=hook_block,
                          evidence={"rule_key": f"graph:{rule_id}", "user": victim, "reasons": ["planted"]}),
    ]
    steps = {s["step"]: s["result"] for s in results[-1]["steps"]}
    assert steps["reset_password"] == "done"

    # what must stay secret, taken from the sandbox's side
    password = issued["passwords"][-1]
    change = [p for p in state.password_changes if p.user_id == victim][-1]
    assert verify_password(password, change.password_hash)  # the captured password is the one set
    tokens = issued["tokens"]
    assert len(tokens) >= 3  # basic app (Graph, Exchange audiences), advanced app (Graph)
    secrets = {"basic client secret": embedded.basic_app.client_secret.get_secret_value(),
               "advanced client secret": embedded.advanced_app.client_secret.get_secret_value(),
               "reset password": password}
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

    # the searches see the runs (a search of nothing would pass too)
    joined = {where: "\n".join(texts) for where, texts in haystacks.items()}
    assert "quarantine" in joined["artifacts"].lower() and "takeover" in joined["logs"].lower()
    assert state.id in joined["events"] and state.id in joined["store rows"]
    assert "connected" in joined["notifications"] and "takeover response" in joined["notifications"].lower()
    assert "reset_password" in joined["store rows"]
    leaks = [(what, where) for where, text in joined.items() for what, value in secrets.items() if value in text]
    assert leaks == []
