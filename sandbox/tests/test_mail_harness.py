"""A fake tenant and a bare FastAPI app around the mail router (no TLS, no tokens), shared by the
``test_mail_*`` modules; plus a check that the harness itself answers like Graph."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from m365sandbox.context import GraphHTTPError
from m365sandbox.mail import MailboxState, build_mail_router
from m365sandbox.seed import FolderSeed, MailboxSeed

TENANT = "aaaaaaaa-0000-4000-8000-00000000000a"
DOMAIN = "contoso.example"
ALICE = "aaaaaaaa-u001-4000-8000-000000000000"
BOB = "aaaaaaaa-u002-4000-8000-000000000000"
CAROL = "aaaaaaaa-u003-4000-8000-000000000000"  # a user without a mailbox
SALES = "aaaaaaaa-g001-4000-8000-000000000000"
ALL_ROLES = frozenset({"Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite"})
T0 = 1_800_000_000.0
PDF = base64.b64encode(b"%PDF-1.4 fake invoice").decode()


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _user(uid: str, name: str) -> dict[str, Any]:
    upn = f"{name}@{DOMAIN}"
    return {"id": uid, "displayName": name.title(), "userPrincipalName": upn, "mail": upn,
            "proxyAddresses": [f"SMTP:{upn}", f"smtp:{name}.alias@{DOMAIN}"]}


@dataclass
class FakeTenant:
    """What the mail routes use of a tenant: id, cloud, users, mailboxes, groups."""

    id: str = TENANT
    cloud: str = "global"
    graph_resource: str = "https://graph.microsoft.com"
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    mailboxes: dict[str, MailboxState] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    delta_epoch: int = 0

    def find_user(self, ref: str) -> dict[str, Any] | None:
        low = ref.lower()
        for u in self.users.values():
            keys = {u["id"].lower(), u["userPrincipalName"].lower(), u["mail"].lower()}
            keys |= {a.split(":", 1)[1].lower() for a in u.get("proxyAddresses", [])}
            if low in keys:
                return u
        return None

    def transitive_members(self, gid: str) -> list[str]:
        return list(self.members.get(gid, []))


def message(n: int, folder: str = "inbox-a", *, sender: str = "partner@fabrikam.example",
            minutes: int | None = None, read: bool = False, attach: bool = False,
            **extra: Any) -> dict[str, Any]:
    """A seed message (Graph JSON) received ``minutes`` (default ``n``) minutes after 2026-01-01."""
    minute = n if minutes is None else minutes
    received = f"2026-01-0{1 + minute // 1440}T{(minute // 60) % 24:02d}:{minute % 60:02d}:00Z"
    msg: dict[str, Any] = {
        "id": f"AAMkADseed{n:06d}AAA=", "parentFolderId": folder, "subject": f"Message {n}",
        "receivedDateTime": received, "sentDateTime": received,
        "internetMessageId": f"<msg{n}@fabrikam.example>", "isRead": read,
        "body": {"contentType": "html",
                 "content": f"<html><body><p>Hello &amp; welcome {n}</p></body></html>"},
        "from": {"emailAddress": {"name": "Partner", "address": sender}},
        "toRecipients": [{"emailAddress": {"name": "Alice", "address": f"alice@{DOMAIN}"}}],
        "internetMessageHeaders": [{"name": "Authentication-Results", "value": "spf=pass"},
                                   {"name": "Received", "value": "from mx.fabrikam.example"}],
        **extra}
    if attach:
        msg["hasAttachments"] = True
        msg["attachments"] = [{"@odata.type": "#microsoft.graph.fileAttachment", "name": "invoice.pdf",
                               "contentType": "application/pdf", "size": 21, "isInline": False,
                               "contentBytes": PDF}]
    return msg


def mailbox_seed(messages: Iterable[dict[str, Any]] = (),
                 rules: Iterable[dict[str, Any]] = ()) -> MailboxSeed:
    folders = [FolderSeed({"id": "inbox-a", "displayName": "Inbox", "parentFolderId": "root"}, "inbox"),
               FolderSeed({"id": "projects-a", "displayName": "Projects", "parentFolderId": "root"})]
    return MailboxSeed(folders=folders, messages=list(messages), rules=list(rules),
                       hidden_rules=[{"Name": "", "Identity": "alice\\9999", "Enabled": True}])


def make_tenant(alice_messages: Iterable[dict[str, Any]] = (), rules: Iterable[dict[str, Any]] = (),
                cloud: str = "global") -> FakeTenant:
    t = FakeTenant(cloud=cloud)
    for uid, name in ((ALICE, "alice"), (BOB, "bob"), (CAROL, "carol")):
        t.users[uid] = _user(uid, name)
    t.mailboxes[ALICE] = MailboxState.from_seed(mailbox_seed(alice_messages, rules))
    t.mailboxes[BOB] = MailboxState.from_seed(mailbox_seed())
    t.groups[SALES] = {"id": SALES, "mail": f"sales@{DOMAIN}", "proxyAddresses": [f"SMTP:sales@{DOMAIN}"]}
    t.members[SALES] = [ALICE, BOB]
    return t


class Harness:
    """A TestClient on the mail router with a switchable role set and a fake clock."""

    def __init__(self, tenant: FakeTenant, roles: frozenset[str] = ALL_ROLES) -> None:
        self.tenant = tenant
        self.roles = roles
        self.clock = FakeClock()
        app = FastAPI()
        app.state.sandbox = self

        @app.exception_handler(GraphHTTPError)
        async def graph_error(request: Request, exc: GraphHTTPError) -> JSONResponse:
            return JSONResponse({"error": {"code": exc.code, "message": exc.message, "innerError": {}}},
                                status_code=exc.status)

        app.include_router(build_mail_router(), prefix="/v1.0")
        harness = self

        async def gate(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                st = scope.setdefault("state", {})
                st["tenant"], st["roles"], st["app_id"] = harness.tenant, harness.roles, "app-1"
            await app(scope, receive, send)

        self.client = TestClient(gate, base_url="https://sandbox.test")

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path if path.startswith("http") else "/v1.0" + path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post("/v1.0" + path, json=json, **kw)

    def patch(self, path: str, json: Any) -> Any:
        return self.client.patch("/v1.0" + path, json=json)

    def delete(self, path: str) -> Any:
        return self.client.delete("/v1.0" + path)

    def all_pages(self, path: str, **kw: Any) -> list[dict[str, Any]]:
        body = self.get(path, **kw).json()
        items = list(body["value"])
        while "@odata.nextLink" in body:
            body = self.get(body["@odata.nextLink"], headers=kw.get("headers")).json()
            items += body["value"]
        return items


def test_harness_serves_a_graph_error_body_for_an_unknown_user() -> None:
    h = Harness(make_tenant())
    r = h.get("/users/nobody@contoso.example/messages")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "ErrorInvalidUser"
