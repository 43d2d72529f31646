"""The password reset under crash and retry, against the sandbox: set once, never twice, never skipped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailwarden.detection.rules import RuleContext
from mailwarden.store import Store
from mailwarden.store.repositories import begin_action, get_action
from mailwarden.takeover.playbook import ACTOR, Playbook

FIRST, SECOND = "F1rst-Reset-Pa55word-q8w!", "S3cond-Reset-Pa55word-z4x!"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'store.db'}")
    s.migrate()
    yield s
    s.dispose()


@pytest.fixture
def tenant(tenant_factory: Any) -> Iterator[tuple[Any, Any, Any, str]]:
    block, state = tenant_factory(users=10, consent="advanced", messages_per_mailbox=1)
    user = next(u for u, rec in sorted(state.users.items()) if rec.get("accountEnabled"))
    with block.graph_client("advanced") as admin:
        yield block, state, admin, user


def _playbook(block: Any, admin: Any, store: Store, user: str, password: str) -> Playbook:
    return Playbook(block.tenant_id, user, user, admin, None, store, {"incident": "INC-crash"}, RuleContext(),
                    graph_admin=admin, password_factory=lambda: password)


def _changes(state: Any, user: str) -> list[Any]:
    return [p for p in state.password_changes if p.user_id == user]


def _begin_as_crashed_attempt(pb: Playbook, before: str | None) -> str:
    """The planned record an attempt leaves when it dies right after claiming the step."""
    key = pb._key("reset_password", pb.incident)
    with pb.store.session() as s:
        begin_action(s, key, tenant_id=pb.tenant_id, target_kind="user", target=pb.user_id, action="reset_password",
                     actor=ACTOR, mailbox_id=pb.user_id, approval="approved",
                     details={"password_changed_before": before})
    return key


def test_reset_done_but_not_recorded_is_not_set_again(tenant: Any, store: Store) -> None:
    block, state, admin, user = tenant
    first = _playbook(block, admin, store, user, FIRST)
    key = _begin_as_crashed_attempt(first, first._last_password_change())
    admin.patch(f"/users/{user}", {"passwordProfile": {"password": FIRST, "forceChangePasswordNextSignIn": True}})
    assert len(_changes(state, user)) == 1  # the crash: reset through the API, never completed

    out = _playbook(block, admin, store, user, SECOND).reset_password("approved")
    assert out.result == "done" and "earlier attempt" in out.detail
    assert len(_changes(state, user)) == 1  # the first password stands
    with store.session() as s:
        rec = get_action(s, key)
        assert rec is not None and rec.state == "done"
        assert rec.details and rec.details["completed_by"] == "earlier attempt"
    assert _playbook(block, admin, store, user, SECOND).reset_password("approved").result == "already_done"
    assert len(_changes(state, user)) == 1


def test_reset_begun_whose_call_never_happened_runs_on_rerun(tenant: Any, store: Store) -> None:
    block, state, admin, user = tenant
    first = _playbook(block, admin, store, user, FIRST)
    key = _begin_as_crashed_attempt(first, first._last_password_change())
    assert not _changes(state, user)

    out = _playbook(block, admin, store, user, SECOND).reset_password("approved")
    assert out.result == "done" and "earlier attempt" not in out.detail
    changes = _changes(state, user)
    assert len(changes) == 1 and changes[0].force_change is True
    with store.session() as s:
        rec = get_action(s, key)
        assert rec is not None and rec.state == "done" and "completed_by" not in (rec.details or {})


def test_record_begun_without_the_prior_value_falls_back_to_the_begin_time(tenant: Any, store: Store) -> None:
    block, state, admin, user = tenant
    pb = _playbook(block, admin, store, user, FIRST)
    key = pb._key("reset_password", pb.incident)
    with store.session() as s:  # a record left by a version that kept no prior value
        begin_action(s, key, tenant_id=pb.tenant_id, target_kind="user", target=user, action="reset_password",
                     actor=ACTOR, mailbox_id=user)
    # the generated user's last change (its creation) is before the step began: the reset runs
    assert pb.reset_password("approved").result == "done" and len(_changes(state, user)) == 1
