"""Delta rounds folded onto a previous directory."""

from __future__ import annotations

from mailwarden.directory import apply_group_delta, apply_user_delta
from tests.directory._data import small_state


def test_user_delta_adds_updates_merges_repeats_and_removes() -> None:
    state = small_state()
    changed, removed = apply_user_delta(state, [
        {"id": "new", "displayName": "New", "mail": "new@contoso.com"},
        {"id": "ann", "proxyAddresses": ["SMTP:ann@contoso.com"]},
        {"id": "new", "jobTitle": "CEO"},  # the same object twice: properties merge
        {"id": "bob", "@removed": {"reason": "changed"}},
    ])
    assert changed == {"new", "ann"} and removed == {"bob"}
    assert state.users["new"]["displayName"] == "New" and state.users["new"]["jobTitle"] == "CEO"
    assert state.users["ann"]["displayName"] == "Ann Lee"  # untouched properties stay
    assert state.users["ann"]["proxyAddresses"] == ["SMTP:ann@contoso.com"]
    assert "bob" not in state.users and "bob" not in state.members["sec"]


def test_group_delta_applies_member_additions_and_removals() -> None:
    state = small_state()
    apply_group_delta(state, [
        {"id": "fin", "members@delta": [{"id": "ann"}, {"id": "sec", "@removed": {"reason": "deleted"}}]},
        {"id": "new", "displayName": "New group", "members@delta": [{"id": "bob"}]},
    ])
    assert state.members["fin"] == {"ann"}
    assert state.members["new"] == {"bob"} and state.groups["new"]["displayName"] == "New group"


def test_removed_group_leaves_the_groups_it_was_nested_in() -> None:
    state = small_state()
    _, removed = apply_group_delta(state, [{"id": "fin", "@removed": {"reason": "deleted"}}])
    assert removed == {"fin"} and "fin" not in state.groups and "fin" not in state.members["all"]


def test_copy_is_independent_of_the_original() -> None:
    state = small_state()
    other = state.copy()
    apply_user_delta(other, [{"id": "ann", "displayName": "Changed"}])
    apply_group_delta(other, [{"id": "fin", "members@delta": [{"id": "ann"}]}])
    assert state.users["ann"]["displayName"] == "Ann Lee" and "ann" not in state.members["fin"]
