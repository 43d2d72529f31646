"""Fixtures of the scan core: a migrated store, the small hand-made tenant saved in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailwarden.directory import AddressBook, license_counts, license_list, save_snapshot
from mailwarden.store import Store
from tests.directory._data import small_state


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    s.migrate()
    return s


@pytest.fixture
def saved_book(store: Store) -> AddressBook:
    """ann, bob, shared, room, dis (disabled), unlic, guest: saved as the tenant's snapshot."""
    state = small_state()
    book = AddressBook.from_state(state)
    lic = license_list(book)
    with store.session() as s:
        save_snapshot(s, state, book, lic, [], counts=license_counts(lic), seats=10, links={})
    return book
