"""The admin guard fails closed: while every directory-role read is throttled, a playbook that may
reset and disable unattended leaves every admin (direct, or through a role-assignable group)
enabled and un-reset, and says why in its summary."""

from __future__ import annotations

from typing import Any

import pytest

from tests._policy import ALL_UNATTENDED, save_policy

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _summary(block: Any) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from tasks.common import artifact_key

    key = artifact_key("takeover-response-summary", block)
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    return str(arts[0].data) if arts else ""


def test_throttled_role_reads_leave_every_admin_enabled_and_unreset(tenant_factory: Any, embedded: Any) -> None:
    from flows.takeover_response import takeover_response

    block, state = tenant_factory(users=12, consent="advanced", messages_per_mailbox=1)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **ALL_UNATTENDED)
    people = sorted(state.truth.protected_mailboxes)
    direct, via_group = people[0], people[1]
    state.assign_role("Global Administrator", direct)
    group = next(iter(state.groups))
    state.add_member(group, via_group)
    state.assign_role("Privileged Role Administrator", group)
    embedded.sandbox.faults.inject("429", tenant=state.id, path="memberOf", retry_after=0)
    try:
        for admin in (direct, via_group):
            out = takeover_response(tenant=block.primary_domain, user=admin,
                                    steps=["reset_password", "disable_account"])
            results = {s["step"]: s for s in out["steps"]}
            assert {s["result"] for s in results.values()} == {"skipped"}
            assert all("admin status unknown" in s["detail"] for s in results.values())
            assert "admin status unknown" in _summary(block)
    finally:
        embedded.sandbox.faults.clear()
    with state.lock:
        assert all(state.users[a].get("accountEnabled") is not False for a in (direct, via_group))
        assert not [p for p in state.password_changes if p.user_id in (direct, via_group)]


def test_roles_held_through_a_group_are_seen_when_they_can_be_read(tenant_factory: Any) -> None:
    from flows.takeover_response import takeover_response

    block, state = tenant_factory(users=12, consent="advanced", messages_per_mailbox=1)
    block.save(block.block_name, overwrite=True)
    save_policy(block, **ALL_UNATTENDED)
    user = sorted(state.truth.protected_mailboxes)[2]
    group = next(iter(state.groups))
    state.add_member(group, user)
    state.assign_role("Exchange Administrator", group)
    out = takeover_response(tenant=block.primary_domain, user=user, steps=["disable_account"])
    assert out["steps"][0]["result"] == "skipped" and "directory role" in out["steps"][0]["detail"]
    assert state.users[user].get("accountEnabled") is not False


def test_an_account_on_the_never_disable_list_is_left_alone(tenant_factory: Any) -> None:
    from flows.takeover_response import takeover_response

    block, state = tenant_factory(users=12, consent="advanced", messages_per_mailbox=1)
    block.save(block.block_name, overwrite=True)
    user = sorted(state.truth.protected_mailboxes)[3]
    save_policy(block, **ALL_UNATTENDED, never_disable=[state.users[user]["userPrincipalName"].upper()])
    out = takeover_response(tenant=block.primary_domain, user=user, steps=["reset_password", "disable_account"])
    assert {s["result"] for s in out["steps"]} == {"skipped"}
    assert not [p for p in state.password_changes if p.user_id == user]
