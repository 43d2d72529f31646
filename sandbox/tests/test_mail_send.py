"""sendMail: 202 with no body, Sent Items copy, delivery to internal recipients and groups,
the sent log, and refusals."""

from __future__ import annotations

from tests.test_mail_harness import ALICE, BOB, Harness, make_tenant


def _mail(*to: str, cc: tuple[str, ...] = (), bcc: tuple[str, ...] = ()) -> dict:
    def rec(a: str) -> dict:
        return {"emailAddress": {"address": a}}
    return {"subject": "Security notice", "body": {"contentType": "Text", "content": "We removed a phish."},
            "toRecipients": [rec(a) for a in to], "ccRecipients": [rec(a) for a in cc],
            "bccRecipients": [rec(a) for a in bcc]}


def test_send_mail_is_202_and_lands_in_sent_items_and_internal_inboxes() -> None:
    h = Harness(make_tenant())
    r = h.post(f"/users/{ALICE}/sendMail", json={"message": _mail("bob.alias@contoso.example",
                                                                  "someone@outside.example"),
                                                 "saveToSentItems": True})
    assert r.status_code == 202 and r.content == b""
    sent = h.get(f"/users/{ALICE}/mailFolders/sentitems/messages").json()["value"]
    assert [m["subject"] for m in sent] == ["Security notice"] and sent[0]["isRead"] is True
    got = h.get(f"/users/{BOB}/mailFolders/inbox/messages", params={
        "$select": "subject,from,isRead,internetMessageId,internetMessageHeaders"}).json()["value"]
    assert len(got) == 1 and got[0]["isRead"] is False
    assert got[0]["from"]["emailAddress"]["address"] == "alice@contoso.example"
    assert got[0]["internetMessageId"] == sent[0]["internetMessageId"]
    assert any(hd["name"] == "Received" for hd in got[0]["internetMessageHeaders"])
    log = h.tenant.mailboxes[ALICE].sent_log
    assert log[0]["delivered_to"] == [BOB]
    assert log[0]["recipients"] == ["bob.alias@contoso.example", "someone@outside.example"]


def test_group_address_is_expanded_and_bcc_is_hidden_from_recipients() -> None:
    h = Harness(make_tenant())
    mail = _mail("sales@contoso.example", bcc=("alice@contoso.example",))
    h.post(f"/users/{BOB}/sendMail", json={"message": mail, "saveToSentItems": False})
    alice_inbox = h.get(f"/users/{ALICE}/mailFolders/inbox/messages").json()["value"]
    assert len(alice_inbox) == 1 and alice_inbox[0]["bccRecipients"] == []
    assert h.get(f"/users/{BOB}/mailFolders/sentitems").json()["totalItemCount"] == 0
    assert h.get(f"/users/{BOB}/mailFolders/inbox").json()["totalItemCount"] == 1


def test_send_mail_needs_mail_send_and_valid_recipients() -> None:
    h = Harness(make_tenant(), roles=frozenset({"Mail.ReadWrite"}))
    r = h.post(f"/users/{ALICE}/sendMail", json={"message": _mail("bob@contoso.example")})
    assert r.status_code == 403
    h.roles = frozenset({"Mail.Send"})
    r = h.post(f"/users/{ALICE}/sendMail", json={"message": _mail()})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidRecipients"
    assert h.post(f"/users/{ALICE}/sendMail", json={"message": _mail("not-an-address")}).status_code == 400
    assert h.post(f"/users/{ALICE}/sendMail", json={}).status_code == 400
