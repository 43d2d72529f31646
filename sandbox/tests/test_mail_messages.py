"""Message routes: list/get envelopes, $select, $filter, $orderby, paging, move/copy/delete,
PATCH, attachments, permissions and unknown users/mailboxes."""

from __future__ import annotations

import base64
from urllib.parse import urlsplit

import pytest

from tests.test_mail_harness import ALICE, CAROL, PDF, Harness, make_tenant, message


@pytest.fixture
def h() -> Harness:
    msgs = [message(n, attach=(n == 3), read=(n % 2 == 0)) for n in range(1, 26)]
    msgs.append(message(99, "projects-a", sender="boss@contoso.example", minutes=500))
    return Harness(make_tenant(msgs))


def test_list_has_graph_envelope_default_page_of_10_and_absolute_next_link(h: Harness) -> None:
    body = h.get(f"/users/{ALICE}/messages").json()
    assert body["@odata.context"] == f"https://graph.microsoft.com/v1.0/$metadata#users('{ALICE}')/messages"
    assert len(body["value"]) == 10
    link = urlsplit(body["@odata.nextLink"])
    assert (link.scheme, link.netloc, link.path) == ("https", "sandbox.test", f"/v1.0/users/{ALICE}/messages")
    first = body["value"][0]
    assert first["@odata.etag"].startswith('W/"') and first["id"]
    assert "internetMessageHeaders" not in first and "attachments" not in first
    assert first["body"]["contentType"] == "html"


def test_mailbox_wide_list_spans_folders_newest_first(h: Harness) -> None:
    items = h.all_pages(f"/users/{ALICE}/messages", params={"$top": "7"})
    assert len(items) == 26
    assert items[0]["subject"] == "Message 99"
    received = [m["receivedDateTime"] for m in items]
    assert received == sorted(received, reverse=True)
    assert len({m["id"] for m in items}) == 26


def test_folder_list_by_well_known_name_and_top_limits(h: Harness) -> None:
    body = h.get(f"/users/{ALICE}/mailFolders/inbox/messages", params={"$top": "1000"}).json()
    assert len(body["value"]) == 25 and "@odata.nextLink" not in body
    assert body["@odata.context"].endswith(f"users('{ALICE}')/mailFolders('inbox')/messages")
    for bad in ("0", "1001", "x"):
        r = h.get(f"/users/{ALICE}/messages", params={"$top": bad})
        assert r.status_code == 400, bad


def test_select_returns_only_selected_and_headers_only_when_selected(h: Harness) -> None:
    body = h.get(f"/users/{ALICE}/messages", params={"$select": "subject,internetMessageHeaders"}).json()
    assert body["@odata.context"].endswith("/messages(subject,internetMessageHeaders)")
    one = body["value"][0]
    assert set(one) == {"@odata.etag", "id", "subject", "internetMessageHeaders"}
    assert {"name": "Authentication-Results", "value": "spf=pass"} in one["internetMessageHeaders"]
    bad = h.get(f"/users/{ALICE}/messages", params={"$select": "subject,notAProperty"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "RequestBroker--ParseUri"


def test_filter_received_range_read_state_sender_and_internet_message_id(h: Harness) -> None:
    def subjects(flt: str) -> set[str]:
        return {m["subject"] for m in h.all_pages(f"/users/{ALICE}/messages", params={"$filter": flt})}

    assert subjects("receivedDateTime ge 2026-01-01T00:20:00Z and receivedDateTime lt 2026-01-01T00:23:00Z") \
        == {"Message 20", "Message 21", "Message 22"}
    assert subjects("receivedDateTime gt 2026-01-01T00:24:00Z") == {"Message 25", "Message 99"}
    assert subjects("from/emailAddress/address eq 'BOSS@contoso.example'") == {"Message 99"}
    assert subjects("internetMessageId eq '<msg7@fabrikam.example>'") == {"Message 7"}
    assert subjects("subject eq 'Message 4'") == {"Message 4"}
    unread = subjects("isRead eq false")
    assert "Message 1" in unread and "Message 2" not in unread
    r = h.get(f"/users/{ALICE}/messages", params={"$filter": "bodyPreview gt 'x'"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "ErrorInvalidUrlQueryFilter"


def test_orderby_asc_and_exchange_refuses_orderby_not_first_in_filter(h: Harness) -> None:
    asc = h.get(f"/users/{ALICE}/mailFolders/inbox/messages",
                params={"$orderby": "receivedDateTime asc"}).json()
    assert asc["value"][0]["subject"] == "Message 1"
    ok = h.get(f"/users/{ALICE}/messages", params={
        "$orderby": "receivedDateTime desc",
        "$filter": "receivedDateTime ge 2026-01-01T00:00:00Z and isRead eq true"})
    assert ok.status_code == 200
    r = h.get(f"/users/{ALICE}/messages", params={"$orderby": "receivedDateTime desc",
                                                   "$filter": "isRead eq true"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InefficientFilter"


def test_next_link_keeps_query_options_across_pages(h: Harness) -> None:
    items = h.all_pages(f"/users/{ALICE}/messages", params={"$top": "4", "$select": "subject",
                                                             "$filter": "isRead eq false"})
    assert len(items) == 14  # 13 odd inbox messages and the one in Projects
    assert all(set(m) == {"@odata.etag", "id", "subject"} for m in items)


def test_get_message_and_text_body_preference(h: Harness) -> None:
    mid = "AAMkADseed000005AAA="
    r = h.get(f"/users/alice@contoso.example/messages/{mid}")
    assert r.status_code == 200
    assert r.json()["@odata.context"].endswith("users('alice%40contoso.example')/messages/$entity")
    assert r.json()["bodyPreview"] == "Hello & welcome 5"
    t = h.get(f"/users/{ALICE}/messages/{mid}", headers={"Prefer": 'outlook.body-content-type="text"'})
    assert t.json()["body"] == {"contentType": "text", "content": "Hello & welcome 5"}
    assert t.headers["Preference-Applied"] == 'outlook.body-content-type="text"'
    missing = h.get(f"/users/{ALICE}/messages/AAMkADnope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"


def test_move_returns_201_with_a_new_id_and_the_old_id_404s(h: Harness) -> None:
    old = "AAMkADseed000001AAA="
    r = h.post(f"/users/{ALICE}/messages/{old}/move", json={"destinationId": "junkemail"})
    assert r.status_code == 201
    moved = r.json()
    junk = h.get(f"/users/{ALICE}/mailFolders/junkemail").json()
    assert moved["id"] != old and moved["parentFolderId"] == junk["id"]
    assert moved["subject"] == "Message 1" and moved["internetMessageId"] == "<msg1@fabrikam.example>"
    assert h.get(f"/users/{ALICE}/messages/{old}").status_code == 404
    assert h.get(f"/users/{ALICE}/messages/{moved['id']}").status_code == 200
    assert junk["totalItemCount"] == 1 and junk["unreadItemCount"] == 1
    bad = h.post(f"/users/{ALICE}/messages/{moved['id']}/move", json={"destinationId": "nowhere"})
    assert bad.status_code == 404


def test_copy_keeps_the_original(h: Harness) -> None:
    r = h.post(f"/users/{ALICE}/messages/AAMkADseed000002AAA=/copy", json={"destinationId": "archive"})
    assert r.status_code == 201
    assert h.get(f"/users/{ALICE}/messages/AAMkADseed000002AAA=").status_code == 200
    assert len(h.all_pages(f"/users/{ALICE}/messages", params={"$top": "100"})) == 27


def test_delete_is_a_soft_delete_into_recoverable_items_and_permanent_delete_purges(h: Harness) -> None:
    assert h.delete(f"/users/{ALICE}/messages/AAMkADseed000004AAA=").status_code == 204
    assert h.get(f"/users/{ALICE}/messages/AAMkADseed000004AAA=").status_code == 404
    visible = h.all_pages(f"/users/{ALICE}/messages", params={"$top": "100"})
    assert "Message 4" not in {m["subject"] for m in visible}
    dumpster = h.get(f"/users/{ALICE}/mailFolders/recoverableitemsdeletions/messages").json()["value"]
    assert [m["subject"] for m in dumpster] == ["Message 4"]
    r = h.post(f"/users/{ALICE}/messages/AAMkADseed000006AAA=/permanentDelete")
    assert r.status_code == 204
    assert h.get(f"/users/{ALICE}/messages/AAMkADseed000006AAA=").status_code == 404
    assert len(h.all_pages(f"/users/{ALICE}/messages", params={"$top": "100"})) == 24
    assert h.get(f"/users/{ALICE}/mailFolders/recoverableitemsdeletions/messages").json()["value"] == dumpster


def test_patch_changes_read_state_categories_and_change_key(h: Harness) -> None:
    mid = "AAMkADseed000001AAA="
    before = h.get(f"/users/{ALICE}/messages/{mid}").json()
    r = h.patch(f"/users/{ALICE}/messages/{mid}", {"isRead": True, "categories": ["Phish"],
                                                    "flag": {"flagStatus": "flagged"}})
    assert r.status_code == 200
    after = r.json()
    assert after["isRead"] is True and after["categories"] == ["Phish"] and after["id"] == mid
    assert after["changeKey"] != before["changeKey"] and after["@odata.etag"] != before["@odata.etag"]
    assert h.get(f"/users/{ALICE}/mailFolders/inbox").json()["unreadItemCount"] == 12
    sent = h.patch(f"/users/{ALICE}/messages/{mid}", {"subject": "changed"})
    assert sent.status_code == 400 and sent.json()["error"]["code"] == "ErrorInvalidPropertyUpdateSentMessage"


def test_attachments_list_get_and_expand(h: Harness) -> None:
    mid = "AAMkADseed000003AAA="
    atts = h.get(f"/users/{ALICE}/messages/{mid}/attachments").json()["value"]
    assert len(atts) == 1
    att = atts[0]
    assert att["@odata.type"] == "#microsoft.graph.fileAttachment"
    assert (att["name"], att["contentType"], att["size"], att["isInline"]) == (
        "invoice.pdf", "application/pdf", 21, False)
    assert base64.b64decode(att["contentBytes"]) == base64.b64decode(PDF)
    one = h.get(f"/users/{ALICE}/messages/{mid}/attachments/{att['id']}").json()
    assert one["id"] == att["id"]
    expanded = h.get(f"/users/{ALICE}/messages/{mid}", params={"$expand": "attachments"}).json()
    assert expanded["hasAttachments"] is True and expanded["attachments"][0]["name"] == "invoice.pdf"


def test_permissions_read_only_token_cannot_move_and_no_mail_role_cannot_read(h: Harness) -> None:
    h.roles = frozenset({"Mail.Read"})
    assert h.get(f"/users/{ALICE}/messages").status_code == 200
    r = h.post(f"/users/{ALICE}/messages/AAMkADseed000001AAA=/move", json={"destinationId": "junkemail"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "ErrorAccessDenied"
    h.roles = frozenset({"User.Read.All"})
    assert h.get(f"/users/{ALICE}/messages").status_code == 403


def test_user_without_mailbox_and_unknown_user_are_404(h: Harness) -> None:
    r = h.get(f"/users/{CAROL}/messages")
    assert r.status_code == 404 and r.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert h.get("/users/ghost@contoso.example/mailFolders").json()["error"]["code"] == "ErrorInvalidUser"
