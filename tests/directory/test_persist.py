"""Snapshots in the store: round trip, and no partial snapshot on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailwarden.directory import (
    AddressBook,
    delta_links,
    license_counts,
    license_list,
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


def _save(store: Store, state, diffs=(), links=None) -> int:
    book = AddressBook.from_state(state)
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


def test_a_delta_snapshot_writes_the_same_tables_as_a_full_save(store: Store, tmp_path: Path) -> None:
    state = small_state()
    _save(store, state)
    new = state.copy()
    new.users["ann"]["proxyAddresses"] = ["SMTP:ann@contoso.com", "smtp:ann2@contoso.com"]
    del new.users["dis"]
    new.members = {**state.members, "fin": {"sec", "unlic"}, "sec": {"all"}}  # bob leaves, una joins
    new.recipient_types = {**state.recipient_types, "shared": "UserMailbox"}  # untouched by the delta
    new.touched = {"ann", "dis", "fin", "sec"}
    _save(store, new)
    full = Store(f"sqlite:///{tmp_path / 'full.sqlite'}")
    full.migrate()
    plain = new.copy()
    assert plain.touched is None
    _save(full, plain)
    assert _tables(store, state.tenant_id) == _tables(full, state.tenant_id)
    with store.session() as s:
        book = AddressBook.load(s, state.tenant_id)
    assert book.resolve("ann2@contoso.com") == {"ann"} and book.resolve("dee@contoso.com") == set()
