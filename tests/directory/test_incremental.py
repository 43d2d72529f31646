"""Delta runs: the updated book equals a rebuilt one, the diff of the changes equals the full diff,
and the local cache returns exactly the snapshot it was written for."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mailwarden.directory import (
    AddressBook,
    DirectoryState,
    apply_group_delta,
    apply_user_delta,
    diff_books,
    license_list,
    read_cache,
    reconcile,
    write_cache,
)
from mailwarden.directory.cache import cache_path
from mailwarden.directory.state import GROUP_SELECT, USER_SELECT
from tests.directory._data import small_state, user


def _rows(df: Any) -> list[tuple[Any, ...]]:
    frame = df.reset_index(drop=True).astype(object)
    return sorted(map(tuple, frame.where(frame.notna(), None).itertuples(index=False)), key=repr)


def _same(a: AddressBook, b: AddressBook) -> None:
    for name in ("objects", "addresses", "memberships"):
        assert _rows(getattr(a, name)) == _rows(getattr(b, name)), name
    assert _rows(a.conflicts.assign(object_ids=a.conflicts["object_ids"].map(tuple))) == \
        _rows(b.conflicts.assign(object_ids=b.conflicts["object_ids"].map(tuple)))


@pytest.fixture(scope="module")
def generated() -> DirectoryState:
    """A generated tenant (aliases, shared and room mailboxes, guests, nested groups) as a sync sees it."""
    from m365sandbox.generator import generate_tenant

    seed = generate_tenant(seed=11, users=400, groups=60, messages_per_mailbox=0)
    users = {u["id"]: {k: u[k] for k in USER_SELECT if k in u} for u in seed.users}
    groups = {g["id"]: {k: g[k] for k in GROUP_SELECT if k in g} for g in seed.groups}
    rtypes = {k: v["RecipientTypeDetails"] for k, v in seed.recipients.items() if v.get("RecipientTypeDetails")}
    return DirectoryState(seed.tenant_id, users=users, groups=groups, members=seed.members,
                          recipient_types=rtypes, domains=[seed.domain])


def _random_delta(state: DirectoryState, rng: random.Random) -> DirectoryState:
    """A copy of ``state`` with every kind of change a delta round brings."""
    new = state.copy()
    users, groups = sorted(state.users), sorted(state.groups)
    user_items: list[dict[str, Any]] = []
    for i in range(5):
        uid = f"new-{i}"
        user_items.append(user(uid, f"New {i}", [f"SMTP:new{i}@example.com", "smtp:shared.alias@example.com"]))
        new.recipient_types[uid] = rng.choice(["UserMailbox", "SharedMailbox"])
    gone = rng.sample(users, 6)
    user_items += [{"id": u, "@removed": {"reason": "deleted"}} for u in gone]
    alive = [u for u in users if u not in gone]
    for u in rng.sample(alive, 6):
        user_items.append({"id": u, "proxyAddresses": [*state.users[u].get("proxyAddresses", []),
                                                      f"smtp:alias.{u[:8]}@example.com"]})
    for u in rng.sample(alive, 4):
        user_items.append({"id": u, "accountEnabled": False, "assignedLicenses": []})
    for u in rng.sample(alive, 3):  # a conversion only a full Get-Recipient sees
        new.recipient_types[u] = "SharedMailbox"
    apply_user_delta(new, user_items)
    group_items: list[dict[str, Any]] = []
    for g in rng.sample(groups, 8):
        members = sorted(state.members.get(g, ()))
        md = [{"id": m} for m in rng.sample(alive, 3)] + [{"id": "new-0"}]
        md += [{"id": m, "@removed": {}} for m in members[:2]]
        group_items.append({"id": g, "members@delta": md})
    a, b, c = rng.sample(groups, 3)
    group_items.append({"id": a, "members@delta": [{"id": b}]})  # new nesting
    group_items.append({"id": b, "members@delta": [{"id": a}]})  # and a cycle
    group_items.append({"id": c, "@removed": {"reason": "deleted"}})
    group_items.append({"id": "new-group", "displayName": "New", "mail": "newgroup@example.com",
                        "mailEnabled": True, "proxyAddresses": ["SMTP:newgroup@example.com"],
                        "members@delta": [{"id": a}, {"id": "new-1"}]})
    apply_group_delta(new, group_items)
    return new


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_updated_book_equals_the_book_built_from_scratch(generated: DirectoryState, seed: int) -> None:
    old_book = AddressBook.from_state(generated)
    new = _random_delta(generated, random.Random(seed))
    updated = old_book.updated(generated, new)
    _same(updated, AddressBook.from_state(new))
    assert updated.changes is not None and updated.changes.objects <= new.object_ids() | generated.object_ids()
    assert len(updated.changes.objects) < len(new.users) // 4  # only the changes were rebuilt


@pytest.mark.parametrize("seed", [1, 2])
def test_the_diff_of_the_changes_equals_the_full_diff(generated: DirectoryState, seed: int) -> None:
    old_book = AddressBook.from_state(generated)
    new = _random_delta(generated, random.Random(seed))
    updated = old_book.updated(generated, new)
    rebuilt = AddressBook.from_state(new)
    _, _, diffs = reconcile(old_book, updated)
    full = diff_books(old_book, rebuilt, license_list(old_book), license_list(rebuilt))
    assert diffs == full and {d["change"] for d in diffs} == {"added", "removed", "changed"}


def test_a_delta_leaves_the_previous_state_and_book_as_they_were() -> None:
    state = small_state()
    book = AddressBook.from_state(state)
    new = state.copy()
    apply_user_delta(new, [{"id": "ann", "@removed": {"reason": "deleted"}}])
    book.updated(state, new)
    assert "ann" in state.users and "ann" in state.members["all"]
    assert book.resolve("ann@contoso.com") == {"ann"}


def test_the_cache_returns_exactly_the_snapshot_it_was_written_for(tmp_path: Path) -> None:
    state = small_state()
    book = AddressBook.from_state(state)
    write_cache(tmp_path, (3, "2026-01-01T02:00:00+00:00"), state, book)
    loaded = read_cache(tmp_path, state.tenant_id, (3, "2026-01-01T02:00:00+00:00"))
    assert loaded is not None
    got_state, got_book = loaded
    assert got_state.users == state.users and got_state.members == state.members
    assert got_state.recipient_types == state.recipient_types and got_state.domains == state.domains
    assert got_state.snapshot == (3, "2026-01-01T02:00:00+00:00")
    _same(got_book, book)
    assert got_book.resolve("money@contoso.com") == {"ann", "bob"}
    assert list(got_book.objects.dtypes) == list(book.objects.dtypes)
    assert cache_path(tmp_path, state.tenant_id).stat().st_mode & 0o077 == 0  # owner only
    # another snapshot (same id, other time), another tenant: not this cache
    assert read_cache(tmp_path, state.tenant_id, (3, "2026-01-02T02:00:00+00:00")) is None
    assert read_cache(tmp_path, "22222222-2222-2222-2222-222222222222", (3, "2026-01-01T02:00:00+00:00")) is None


def test_an_unreadable_cache_is_ignored(tmp_path: Path) -> None:
    state = small_state()
    write_cache(tmp_path, (1, "t"), state, AddressBook.from_state(state))
    path = cache_path(tmp_path, state.tenant_id)
    path.write_bytes(path.read_bytes()[:100])
    assert read_cache(tmp_path, state.tenant_id, (1, "t")) is None
    import marshal

    from mailwarden.directory.cache import _TAG

    path.write_bytes(marshal.dumps({"tag": list(_TAG), "tenant_id": state.tenant_id, "snapshot": [1, "t"]}))
    assert read_cache(tmp_path, state.tenant_id, (1, "t")) is None  # the right header, no body


def test_numpy_scalars_in_the_book_are_written_as_plain_values(tmp_path: Path) -> None:
    import numpy as np

    state = small_state()
    book = AddressBook.from_state(state)
    book.objects["account_enabled"] = [np.bool_(v) if v is not None else None for v in book.objects["account_enabled"]]
    write_cache(tmp_path, (1, "t"), state, book)
    loaded = read_cache(tmp_path, state.tenant_id, (1, "t"))
    assert loaded is not None and loaded[1].objects.loc["dis", "account_enabled"] is False


def test_the_closure_matches_a_plain_walk_of_the_nested_groups(generated: DirectoryState) -> None:
    state = _random_delta(generated, random.Random(5))  # with a cycle and a new nesting
    book = AddressBook.from_state(state)
    known = state.object_ids()
    expected = set()
    for g in state.groups:
        direct = {m for m in state.members.get(g, ()) if m in known and m != g}
        seen, todo = set(), list(direct)
        while todo:
            x = todo.pop()
            if x in seen or x == g:
                continue
            seen.add(x)
            if x in state.groups:
                todo += [m for m in state.members.get(x, ()) if m in known and m != x]
        expected |= {(g, m, m not in direct) for m in seen}
    got = set(zip(book.memberships["group_id"], book.memberships["member_id"],
                  book.memberships["transitive"].astype(bool), strict=True))
    assert got == expected and any(t for _, _, t in got)
