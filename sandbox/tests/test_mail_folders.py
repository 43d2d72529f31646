"""mailFolders routes: well-known names, counts, childFolders, creation and duplicate names."""

from __future__ import annotations

from tests.test_mail_harness import ALICE, Harness, make_tenant, message

WELL_KNOWN = ("inbox", "sentitems", "deleteditems", "junkemail", "archive", "drafts", "outbox",
              "conversationhistory", "recoverableitemsdeletions", "msgfolderroot")


def _h() -> Harness:
    return Harness(make_tenant([message(1), message(2, read=True), message(3, "projects-a")]))


def test_every_well_known_name_resolves_to_a_folder_with_counts() -> None:
    h = _h()
    for name in WELL_KNOWN:
        r = h.get(f"/users/{ALICE}/mailFolders/{name}")
        assert r.status_code == 200, name
        f = r.json()
        assert set(f) - {"@odata.context"} == {"id", "displayName", "parentFolderId", "childFolderCount",
                                               "unreadItemCount", "totalItemCount", "isHidden"}
    inbox = h.get(f"/users/{ALICE}/mailFolders/Inbox").json()
    assert (inbox["id"], inbox["totalItemCount"], inbox["unreadItemCount"]) == ("inbox-a", 2, 1)
    assert inbox["@odata.context"].endswith(f"users('{ALICE}')/mailFolders/$entity")
    assert h.get(f"/users/{ALICE}/mailFolders/notafolder").status_code == 404


def test_list_shows_top_level_visible_folders_with_paging() -> None:
    h = _h()
    first = h.get(f"/users/{ALICE}/mailFolders", params={"$top": "4"}).json()
    assert len(first["value"]) == 4 and "@odata.nextLink" in first
    assert len(h.get(f"/users/{ALICE}/mailFolders").json()["value"]) == 9  # default page is 10
    names = {f["displayName"] for f in h.all_pages(f"/users/{ALICE}/mailFolders")}
    assert {"Inbox", "Sent Items", "Deleted Items", "Junk Email", "Archive", "Projects"} <= names
    assert "Deletions" not in names and "Top of Information Store" not in names and "Clutter" not in names
    hidden = {f["displayName"] for f in h.all_pages(f"/users/{ALICE}/mailFolders",
                                                    params={"includeHiddenFolders": "true"})}
    assert "Clutter" in hidden
    root = h.get(f"/users/{ALICE}/mailFolders/msgfolderroot").json()
    assert all(f["parentFolderId"] == root["id"] for f in first["value"])


def test_create_child_folder_then_duplicate_name_is_409() -> None:
    h = _h()
    r = h.post(f"/users/{ALICE}/mailFolders/inbox/childFolders", json={"displayName": "Quarantine"})
    assert r.status_code == 201
    child = r.json()
    assert child["parentFolderId"] == "inbox-a" and child["totalItemCount"] == 0
    kids = h.get(f"/users/{ALICE}/mailFolders/inbox/childFolders").json()["value"]
    assert [k["displayName"] for k in kids] == ["Quarantine"]
    assert h.get(f"/users/{ALICE}/mailFolders/inbox").json()["childFolderCount"] == 1
    assert h.get(f"/users/{ALICE}/mailFolders/inbox/childFolders/{child['id']}").status_code == 200
    dup = h.post(f"/users/{ALICE}/mailFolders/inbox/childFolders", json={"displayName": "quarantine"})
    assert dup.status_code == 409 and dup.json()["error"]["code"] == "ErrorFolderExists"
    top = h.post(f"/users/{ALICE}/mailFolders", json={"displayName": "Quarantine"})
    assert top.status_code == 201  # same name under another parent is fine
    assert h.post(f"/users/{ALICE}/mailFolders", json={}).status_code == 400


def test_folder_select_projects_properties() -> None:
    h = _h()
    f = h.get(f"/users/{ALICE}/mailFolders/inbox", params={"$select": "displayName"}).json()
    assert set(f) == {"@odata.context", "id", "displayName"}
    assert h.get(f"/users/{ALICE}/mailFolders/inbox", params={"$select": "bogus"}).status_code == 400
