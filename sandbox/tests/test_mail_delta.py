"""Per-folder message delta: pages with maxpagesize, deltaLink round trips carrying only changes,
@removed for moved/deleted messages, filter limits and expired tokens (410)."""

from __future__ import annotations

from typing import Any

from tests.test_mail_harness import ALICE, BOB, Harness, make_tenant, message

INBOX_DELTA = f"/users/{ALICE}/mailFolders/inbox/messages/delta"


def _round(h: Harness, url: str, page: int = 3, params: dict[str, str] | None = None) \
        -> tuple[list[dict[str, Any]], str, int]:
    """Follow one round to its deltaLink: (items, deltaLink, number of pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page}"}
    body = h.get(url, headers=headers, params=params).json()
    items, pages = list(body["value"]), 1
    while "@odata.nextLink" in body:
        body = h.get(body["@odata.nextLink"], headers=headers).json()
        items += body["value"]
        pages += 1
    return items, body["@odata.deltaLink"], pages


def _h() -> Harness:
    return Harness(make_tenant([message(n) for n in range(1, 9)] + [message(50, "projects-a")]))


def test_initial_sync_pages_by_maxpagesize_and_ends_with_a_delta_link() -> None:
    h = _h()
    first = h.get(INBOX_DELTA, headers={"Prefer": "odata.maxpagesize=3"})
    assert first.status_code == 200
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=3"
    body = first.json()
    assert body["@odata.context"] == "https://graph.microsoft.com/v1.0/$metadata#Collection(message)"
    assert len(body["value"]) == 3 and body["@odata.nextLink"].startswith("https://sandbox.test/v1.0/")
    assert body["value"][0]["@odata.type"] == "#microsoft.graph.message"
    items, delta_link, pages = _round(h, INBOX_DELTA)
    assert sorted(m["subject"] for m in items) == sorted(f"Message {n}" for n in range(1, 9))
    assert pages == 3 and "$deltatoken=" in delta_link


def test_delta_link_returns_only_changes_delivered_moved_and_updated() -> None:
    h = _h()
    _, link, _ = _round(h, INBOX_DELTA)
    again, link, _ = _round(h, link)
    assert again == []
    mb = h.tenant.mailboxes[ALICE]
    new = mb.deliver({"subject": "Fresh", "from": {"emailAddress": {"address": "x@fabrikam.example"}}})
    moved = h.post(f"/users/{ALICE}/messages/AAMkADseed000002AAA=/move", json={"destinationId": "archive"})
    h.patch(f"/users/{ALICE}/messages/AAMkADseed000003AAA=", {"isRead": True})
    h.delete(f"/users/{ALICE}/messages/AAMkADseed000004AAA=")
    h.patch(f"/users/{ALICE}/messages/AAMkADseed000050AAA=", {"isRead": True})  # another folder
    changes, link, _ = _round(h, link, page=2)
    removed = {c["id"] for c in changes if "@removed" in c}
    live = {c["id"]: c for c in changes if "@removed" not in c}
    assert removed == {"AAMkADseed000002AAA=", "AAMkADseed000004AAA="}
    assert all(c["@removed"] == {"reason": "deleted"} and set(c) == {"@odata.type", "id", "@removed"}
               for c in changes if "@removed" in c)
    assert set(live) == {new["id"], "AAMkADseed000003AAA="}
    assert live["AAMkADseed000003AAA="]["isRead"] is True
    archive_items, _, _ = _round(h, f"/users/{ALICE}/mailFolders/archive/messages/delta")
    assert [m["id"] for m in archive_items] == [moved.json()["id"]]
    assert _round(h, link)[0] == []


def test_delta_select_and_received_filter_are_carried_in_links() -> None:
    h = _h()
    items, link, _ = _round(h, INBOX_DELTA, params={"$select": "subject,receivedDateTime",
                                                   "$filter": "receivedDateTime ge 2026-01-01T00:05:00Z"})
    assert sorted(m["subject"] for m in items) == ["Message 5", "Message 6", "Message 7", "Message 8"]
    assert all(set(m) == {"@odata.type", "@odata.etag", "id", "subject", "receivedDateTime"} for m in items)
    h.tenant.mailboxes[ALICE].deliver({"subject": "Late", "receivedDateTime": "2026-01-02T00:00:00Z"})
    h.tenant.mailboxes[ALICE].deliver({"subject": "Early", "receivedDateTime": "2025-12-01T00:00:00Z"})
    changes, _, _ = _round(h, link)
    assert [(c["subject"], set(c)) for c in changes] == [
        ("Late", {"@odata.type", "@odata.etag", "id", "subject", "receivedDateTime"})]


def test_only_received_date_ge_or_gt_filters_are_allowed() -> None:
    h = _h()
    for flt in ("isRead eq false", "receivedDateTime lt 2026-01-01T00:00:00Z",
                "receivedDateTime ge 2026-01-01T00:00:00Z and isRead eq false"):
        r = h.get(INBOX_DELTA, params={"$filter": flt})
        assert r.status_code == 400, flt


def test_unknown_foreign_or_expired_tokens_are_410() -> None:
    h = _h()
    _, link, _ = _round(h, INBOX_DELTA)
    assert h.get(INBOX_DELTA, params={"$deltatoken": "garbage"}).status_code == 410
    foreign = link.replace(f"/users/{ALICE}/", f"/users/{BOB}/")
    assert h.get(foreign).status_code == 410
    other_folder = link.replace("/mailFolders/inbox/", "/mailFolders/archive/")
    assert h.get(other_folder).status_code == 410
    h.tenant.mailboxes[ALICE].expire_delta()
    r = h.get(link)
    assert r.status_code == 410 and r.json()["error"]["code"] == "SyncStateNotFound"
    _, link2, _ = _round(h, INBOX_DELTA)
    h.tenant.delta_epoch += 1
    assert h.get(link2).status_code == 410


def test_change_type_created_skips_updates() -> None:
    h = _h()
    _, link, _ = _round(h, INBOX_DELTA, params={"changeType": "created"})
    h.patch(f"/users/{ALICE}/messages/AAMkADseed000001AAA=", {"isRead": True})
    h.tenant.mailboxes[ALICE].deliver({"subject": "New one"})
    h.delete(f"/users/{ALICE}/messages/AAMkADseed000002AAA=")
    changes, _, _ = _round(h, link)
    assert [c.get("subject") for c in changes] == ["New one"]
