"""Recall planning: sender checks, sent-message lookup, recipient expansion, forward detection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailwarden.directory import AddressBook, DirectoryState
from mailwarden.recall import (
    Forward,
    MessageRef,
    RecallPlan,
    RecallRejected,
    check_sender,
    expand_recipients,
    find_forwards,
    find_sent_message,
    is_forward_of,
    recipients_of,
)

IMID = "<orig-1@contoso.com>"
SENT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _user(oid: str, addrs: list[str], guest: bool = False) -> dict[str, Any]:
    return {"id": oid, "displayName": oid.title(), "userPrincipalName": f"{oid}@contoso.com",
            "mail": addrs[0].split(":", 1)[1], "proxyAddresses": addrs, "accountEnabled": True,
            "assignedLicenses": [{"skuId": "x"}], "userType": "Guest" if guest else "Member"}


def _group(oid: str, addr: str | None) -> dict[str, Any]:
    return {"id": oid, "displayName": oid.upper(), "mail": addr, "mailEnabled": bool(addr), "groupTypes": [],
            "proxyAddresses": [f"SMTP:{addr}"] if addr else []}


@pytest.fixture
def book() -> AddressBook:
    users = [_user("ann", ["SMTP:ann@contoso.com", "smtp:a.lee@contoso.com"]), _user("bob", ["SMTP:bob@contoso.com"]),
             _user("cy", ["SMTP:cy@contoso.com"]), _user("dee", ["SMTP:dee@contoso.com"]),
             _user("gus", ["SMTP:gus@partner.com"], guest=True)]
    groups = [_group("dl", "falcon@contoso.com"), _group("core", "core@contoso.com"), _group("sg", None),
              _group("empty", "empty@contoso.com")]
    members = {"dl": {"bob", "core"}, "core": {"sg", "ann"}, "sg": {"cy"}}
    rtypes = {u["id"]: "UserMailbox" for u in users} | {"gus": "GuestMailUser"}
    state = DirectoryState("t1", users={u["id"]: u for u in users}, groups={g["id"]: g for g in groups},
                           members=members, recipient_types=rtypes, domains=["contoso.com"])
    return AddressBook.from_state(state)


class FakeGraph:
    """Serves ``iter_pages`` from a list of messages per (mailbox, folder); records what was asked."""

    def __init__(self, boxes: dict[tuple[str, str], list[dict[str, Any]]]) -> None:
        self.boxes = boxes
        self.asked: list[tuple[str, dict[str, Any]]] = []

    def iter_pages(self, path: str, *, params: Any = None, headers: Any = None) -> Any:
        self.asked.append((path, dict(params or {})))
        parts = path.split("/")
        return iter(list(self.boxes.get((parts[2], parts[4]), [])))


def _msg(imid: str, subject: str, when: datetime, to: list[str], **kw: Any) -> dict[str, Any]:
    rcpt = [{"emailAddress": {"address": a}} for a in to]
    return {"id": imid + "-id", "internetMessageId": imid, "subject": subject, "toRecipients": rcpt,
            "sentDateTime": when.isoformat().replace("+00:00", "Z"), **kw}


def test_sender_must_be_a_mailbox_of_this_tenant(book: AddressBook) -> None:
    assert check_sender(book, "A.Lee@Contoso.com") == "ann"  # an alias names its mailbox
    with pytest.raises(RecallRejected, match="not an address of this tenant"):
        check_sender(book, "eve@fabrikam.example")
    with pytest.raises(RecallRejected, match="not an address of this tenant"):
        check_sender(book, "gus@partner.com")  # a guest's outside address
    with pytest.raises(RecallRejected, match="not a mailbox"):
        check_sender(book, "falcon@contoso.com")  # a group cannot send a recall
    with pytest.raises(RecallRejected, match="not a mail address"):
        check_sender(book, "nobody")


def test_message_ref_needs_an_id_or_subject_and_time() -> None:
    with pytest.raises(ValueError):
        MessageRef(subject="only a subject")
    with pytest.raises(ValueError):
        MessageRef(internet_message_id=IMID, tolerance=timedelta(minutes=-1))
    assert "sent" in MessageRef(subject="s", sent_at=SENT).describe()


def test_expansion_resolves_aliases_nested_groups_and_keeps_external_apart(book: AddressBook) -> None:
    msg = _msg(IMID, "s", SENT, ["falcon@contoso.com", "a.lee@contoso.com", "dana@partner.example"],
               ccRecipients=[{"emailAddress": {"address": "Empty@contoso.com"}}],
               bccRecipients=[{"emailAddress": {"address": "DEE@contoso.com"}},
                              {"emailAddress": {"address": "gus@partner.com"}}])
    exp = expand_recipients(book, recipients_of(msg), exclude=["bob"])
    assert set(exp.targets) == {"ann", "cy", "dee"}  # bob (the sender) excluded; cy is 3 levels deep
    assert exp.targets["ann"].address == "ann@contoso.com"
    assert {v.split(":")[0] for v in exp.targets["ann"].via} == {"to"}
    assert any("(alias)" in v for v in exp.targets["ann"].via) and any("(group)" in v for v in exp.targets["ann"].via)
    assert exp.targets["dee"].via == ["bcc:dee@contoso.com"]
    assert exp.external == [("dana@partner.example", "to"), ("gus@partner.com", "bcc")]
    assert exp.unresolved == [("empty@contoso.com", "cc")]


def test_sent_message_found_by_id_or_by_subject_within_tolerance() -> None:
    box = [_msg(IMID, "Falcon budget", SENT, ["x@contoso.com"]),
           _msg("<other@contoso.com>", "Falcon budget", SENT + timedelta(hours=3), ["x@contoso.com"])]
    client: Any = FakeGraph({("ann", "sentitems"): box})
    assert find_sent_message(client, "ann", MessageRef(internet_message_id=IMID))["id"] == IMID + "-id"
    assert "internetMessageId eq" in client.asked[-1][1]["$filter"]
    ref = MessageRef(subject="  falcon  BUDGET", sent_at=SENT + timedelta(minutes=2), tolerance=timedelta(minutes=3))
    assert find_sent_message(client, "ann", ref)["internetMessageId"] == IMID
    with pytest.raises(RecallRejected, match="no sent message matches"):
        find_sent_message(client, "ann", MessageRef(subject="Falcon budget", sent_at=SENT + timedelta(hours=1)))
    with pytest.raises(RecallRejected, match="no sent message matches"):
        find_sent_message(client, "ann", MessageRef(internet_message_id="<nope@x>"))
    wide = MessageRef(subject="Falcon budget", sent_at=SENT, tolerance=timedelta(hours=4))
    with pytest.raises(RecallRejected, match="several sent messages"):
        find_sent_message(client, "ann", wide)


def test_forwards_are_recognised_by_subject_prefix_or_reference_headers() -> None:
    original = _msg(IMID, "Falcon budget", SENT, [])
    by_subject = _msg("<f1@c>", "FW: Falcon budget", SENT, [])
    by_fwd = _msg("<f2@c>", "Fwd:  falcon budget", SENT, [])
    refs = [{"name": "References", "value": f"<a@b> {IMID}"}]
    by_header = _msg("<f3@c>", "see this", SENT, [], internetMessageHeaders=refs)
    reply = _msg("<r@c>", "RE: Falcon budget", SENT, [])
    other = _msg("<o@c>", "FW: Falcon budget v2", SENT, [])
    assert [is_forward_of(m, original) for m in (by_subject, by_fwd, by_header, reply, other, original)] == \
        [True, True, True, False, False, False]
    client: Any = FakeGraph({("bob", "sentitems"): [by_subject, reply, other]})
    assert [m["internetMessageId"] for m in find_forwards(client, "bob", original)] == ["<f1@c>"]
    assert client.asked[-1][1]["$filter"].startswith("receivedDateTime ge 2026-05-04T09:30:00Z")


def test_a_plan_places_each_mailbox_on_its_side_and_reports_who_it_cannot_reach(book: AddressBook) -> None:
    msg = _msg(IMID, "Falcon budget", SENT, ["falcon@contoso.com", "dana@partner.example", "empty@contoso.com"])
    exp = expand_recipients(book, recipients_of(msg), exclude=["bob"]).locate({"cy": ("onprem", "cy@contoso.com")})
    plan = RecallPlan("bob", msg, exp)
    assert plan.rejected is None and plan.internet_message_id == IMID and plan.subject == "Falcon budget"
    planned = {r.mailbox_id: r for r in plan.planned()}
    assert set(planned) == {"ann", "cy"} and {r.status for r in planned.values()} == {"planned"}
    assert planned["cy"].side == "on-premises" and planned["ann"].side == "cloud"
    assert planned["cy"].via == "to:falcon@contoso.com (group)" and planned["cy"].internet_message_id == IMID
    assert [(r.recipient, r.status) for r in plan.unreachable()] == [
        ("dana@partner.example", "external"), ("empty@contoso.com", "unresolved")]
    refused = RecallPlan.refused("sender x@y is not a mailbox of this tenant")
    assert refused.rejected and refused.targets == [] and refused.internet_message_id == ""


def test_a_forward_that_left_the_tenant_names_who_forwarded_it(book: AddressBook) -> None:
    fwd = _msg("<f1@c>", "FW: Falcon budget", SENT, ["dee@contoso.com", "dana@partner.example"])
    exp = expand_recipients(book, recipients_of(fwd), exclude=["ann"], via_prefix="forward by ann@contoso.com ")
    forward = Forward("ann@contoso.com", "ann", "<f1@c>", "FW: Falcon budget", exp)
    assert [t.mailbox_id for t in forward.targets] == ["dee"]
    assert forward.targets[0].via_text() == "forward by ann@contoso.com to:dee@contoso.com"
    [left] = forward.left_tenant()
    assert (left.recipient, left.status, left.internet_message_id) == ("dana@partner.example", "external", "<f1@c>")
    assert left.detail == "forward by ann@contoso.com left the tenant"
