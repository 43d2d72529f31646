"""Snapshots in the store: round trip, and no partial snapshot on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailwarden.directory import (
    AddressBook,
    apply_group_delta,
    apply_user_delta,
    delta_links,
    license_counts,
    license_list,
    load_snapshot,
    load_state,
    save_snapshot,
)
from mailwarden.store import Store
from mailwarden.store.repositories import count_directory_objects, latest_license_snapshot
from tests.directory._data import small_state


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    s.migrate()
    return s


def _save(store: Store, state, diffs=(), links=None, book=None) -> int:
    book = book if book is not None else AddressBook.from_state(state)
    lic = license_list(book)
    with store.session() as s:
        return save_snapshot(s, state, book, lic, list(diffs), counts=license_counts(lic), seats=10,
                             links=links or {"users": "https://g/users/delta?$deltatoken=1",
                                             "groups": "https://g/groups/delta?$deltatoken=1"})


def test_snapshot_round_trips_the_directory_and_the_address_book(store: Store) -> None:
    state = small_state()
    _save(store, state)
    with store.session() as s:
        loaded = load_state(s, state.tenant_id)
        book = AddressBook.load(s, state.tenant_id)
        links = delta_links(s, state.tenant_id)
    assert loaded is not None
    assert set(loaded.users) == set(state.users) and loaded.members == state.members
    assert loaded.recipient_types == state.recipient_types and loaded.domains == state.domains
    assert book.resolve("MONEY@contoso.com") == {"ann", "bob"}
    assert links["users"].endswith("deltatoken=1")


def test_a_failure_while_saving_keeps_the_previous_snapshot_directory_and_tokens(store: Store) -> None:
    state = small_state()
    first = _save(store, state)
    changed = small_state()
    del changed.users["ann"]
    with pytest.raises(ValueError):
        # a bad diff row fails after the directory tables and the snapshot row were written
        _save(store, changed, diffs=[{"change": "bogus", "object_id": "x"}],
              links={"users": "https://g/users/delta?$deltatoken=2", "groups": "x"})
    with store.session() as s:
        snap = latest_license_snapshot(s, state.tenant_id)
        assert snap is not None and snap.id == first
        assert count_directory_objects(s, state.tenant_id, kind="user") == len(state.users)
        assert delta_links(s, state.tenant_id)["users"].endswith("deltatoken=1")
        assert "ann" in load_state(s, state.tenant_id).users


def test_address_book_load_without_a_snapshot_says_so(store: Store) -> None:
    with store.session() as s, pytest.raises(LookupError, match="reconcile-licenses"):
        AddressBook.load(s, "22222222-2222-2222-2222-222222222222")


def _tables(store: Store, tenant: str) -> tuple[set, set, set]:
    from sqlalchemy import select

    from mailwarden.store.models import DirectoryAddress, DirectoryObject, GroupMembership

    with store.session() as s:
        objs = {(o.object_id, o.kind, o.display_name, o.upn, o.mail, o.recipient_type, o.account_enabled,
                 o.licensed, o.location, str(sorted((o.raw or {}).items())))
                for o in s.scalars(select(DirectoryObject).where(DirectoryObject.tenant_id == tenant))}
        addrs = set(s.execute(select(DirectoryAddress.address, DirectoryAddress.object_id,
                                     DirectoryAddress.is_primary).where(DirectoryAddress.tenant_id == tenant)))
        mems = set(s.execute(select(GroupMembership.group_id, GroupMembership.member_id,
                                    GroupMembership.transitive).where(GroupMembership.tenant_id == tenant)))
    return objs, addrs, mems


def _row_ids(store: Store, tenant: str) -> dict[str, int]:
    from sqlalchemy import select

    from mailwarden.store.models import DirectoryObject

    with store.session() as s:
        rows = s.execute(select(DirectoryObject.object_id, DirectoryObject.id).where(
            DirectoryObject.tenant_id == tenant))
        return {oid: rid for oid, rid in rows}


def test_a_delta_snapshot_writes_only_the_changes_and_the_same_tables_as_a_full_save(
        store: Store, tmp_path: Path) -> None:
    state = small_state()
    _save(store, state)
    rows_before = _row_ids(store, state.tenant_id)
    with store.session() as s:
        loaded = load_snapshot(s, state.tenant_id)
    assert loaded is not None
    previous, old_book = loaded
    new = previous.copy()
    apply_user_delta(new, [{"id": "ann", "proxyAddresses": ["SMTP:ann@contoso.com", "smtp:ann2@contoso.com"]},
                           {"id": "dis", "@removed": {"reason": "deleted"}}])
    apply_group_delta(new, [{"id": "fin", "members@delta": [{"id": "unlic"}]},  # una joins
                            {"id": "sec", "members@delta": [{"id": "bob", "@removed": {}}]}])  # bob leaves
    new.recipient_types["shared"] = "UserMailbox"  # a conversion seen by a full Get-Recipient
    book = old_book.updated(previous, new)
    assert book.changes is not None and book.changes.objects == {"ann", "dis", "shared"}
    _save(store, new, book=book)
    rows_after = _row_ids(store, state.tenant_id)
    kept = {oid for oid in rows_after if rows_after[oid] == rows_before.get(oid)}
    assert kept == set(rows_before) - {"ann", "dis", "shared"}  # only the changed rows were rewritten
    full = Store(f"sqlite:///{tmp_path / 'full.sqlite'}")
    full.migrate()
    _save(full, new, book=AddressBook.from_state(new))
    assert _tables(store, state.tenant_id) == _tables(full, state.tenant_id)
    with store.session() as s:
        reloaded = AddressBook.load(s, state.tenant_id)
    assert reloaded.resolve("ann2@contoso.com") == {"ann"} and reloaded.resolve("dee@contoso.com") == set()
    assert reloaded.resolve("finance@contoso.com") == {"ann", "unlic"}  # bob left sec, una joined fin


def test_changes_based_on_an_older_snapshot_replace_the_tables_instead(store: Store) -> None:
    state = small_state()
    _save(store, state)
    with store.session() as s:
        loaded = load_snapshot(s, state.tenant_id)
    assert loaded is not None
    previous, old_book = loaded
    _save(store, state)  # another run saved meanwhile: the changes no longer apply to the tables
    new = previous.copy()
    apply_user_delta(new, [{"id": "bob", "@removed": {"reason": "deleted"}}])
    _save(store, new, book=old_book.updated(previous, new))
    assert set(_row_ids(store, state.tenant_id)) == set(state.users) - {"bob"} | set(state.groups)
    with store.session() as s:
        assert AddressBook.load(s, state.tenant_id).resolve("bob@contoso.com") == set()
