"""Readiness polling: backoff, the limit, unavailable capabilities, the token-roles proof."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from mailwarden.onboarding import (
    Check,
    NotReady,
    Status,
    Tier,
    advanced_checks,
    basic_checks,
    poll_until_ready,
    run_checks,
    token_roles,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeGraph:
    """Answers like Graph once ``ready_at`` has passed, 403 before."""

    def __init__(self, clock: FakeClock, ready_at: float = 0.0) -> None:
        self.clock = clock
        self.ready_at = ready_at
        self.calls: list[str] = []

    def get(self, path: str, *, params: dict[str, Any] | None = None, headers: Any = None) -> dict:
        self.calls.append(path)
        if self.clock() < self.ready_at:
            raise PermissionError("403 Authorization_RequestDenied")
        if path == "/organization":
            return {"value": [{"displayName": "Contoso"}]}
        if path == "/users":
            return {"value": [{"id": "u0", "mail": None}, {"id": "u1", "mail": "a@contoso.com"}]}
        return {"value": [{"id": "f"}]}


class FakeExchange:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict | None]] = []

    def invoke(self, cmdlet: str, parameters: dict | None = None) -> list[dict]:
        self.calls.append((cmdlet, parameters))
        return [{"Identity": "x"}]


def test_all_basic_capabilities_ready_at_once() -> None:
    clock = FakeClock()
    graph, ex = FakeGraph(clock), FakeExchange()
    report = poll_until_ready(
        basic_checks(graph, ex, supports_message_rules=True), sleep=clock.sleep, clock=clock
    )
    assert report.ready and report.attempts == 1 and clock.sleeps == []
    assert [r.name for r in report.results] == [
        "directory.read",
        "mailbox.read",
        "inbox-rules.read",
        "exchange.admin",
    ]
    assert "/users/u1/mailFolders" in graph.calls  # the first user *with* a mailbox
    assert ex.calls == [("Get-Mailbox", {"ResultSize": 1})]


def test_waits_with_backoff_until_consent_propagates() -> None:
    clock = FakeClock()
    graph = FakeGraph(clock, ready_at=7.0)
    report = poll_until_ready(
        basic_checks(graph, None, supports_message_rules=True),
        limit=60,
        initial_delay=1,
        max_delay=4,
        sleep=clock.sleep,
        clock=clock,
    )
    assert report.ready
    assert clock.sleeps == [1, 2, 4]  # 7 s of virtual time, capped backoff
    assert report.attempts == 4


def test_fails_after_the_limit_naming_what_is_missing() -> None:
    clock = FakeClock()
    graph = FakeGraph(clock, ready_at=1e9)
    with pytest.raises(NotReady) as info:
        poll_until_ready(
            basic_checks(graph, None, supports_message_rules=True),
            limit=10,
            initial_delay=1,
            max_delay=4,
            sleep=clock.sleep,
            clock=clock,
        )
    message = str(info.value)
    assert "directory.read" in message and "mailbox.read" in message and "403" in message
    assert sum(clock.sleeps) == pytest.approx(10)


def test_only_waiting_checks_are_retried() -> None:
    clock = FakeClock()
    calls = {"a": 0, "b": 0}

    def a() -> str:
        calls["a"] += 1
        return "ok"

    def b() -> str:
        calls["b"] += 1
        if calls["b"] < 3:
            raise RuntimeError("not yet")
        return "ok"

    checks = [Check("a", Tier.BASIC, "", a), Check("b", Tier.BASIC, "", b)]
    report = poll_until_ready(checks, initial_delay=1, max_delay=1, sleep=clock.sleep, clock=clock)
    assert report.ready and calls == {"a": 1, "b": 3}


def test_china_reports_inbox_rules_unavailable_instead_of_waiting() -> None:
    clock = FakeClock()
    graph = FakeGraph(clock)
    report = poll_until_ready(
        basic_checks(graph, None, supports_message_rules=False, cloud="china"), sleep=clock.sleep, clock=clock
    )
    rules = {r.name: r for r in report.results}["inbox-rules.read"]
    assert report.ready
    assert rules.status is Status.UNAVAILABLE and "not available in the china cloud" in rules.detail
    assert not any("messageRules" in c for c in graph.calls)


def _token(roles: list[str]) -> str:
    return jwt.encode({"roles": roles, "tid": "t"}, "k" * 32, algorithm="HS256")


def test_identity_write_needs_the_advanced_roles_in_the_token() -> None:
    clock = FakeClock()
    graph = FakeGraph(clock)
    ok = run_checks(
        advanced_checks(
            graph,
            lambda: _token(
                [
                    "User.ReadWrite.All",
                    "User.RevokeSessions.All",
                    "MailboxSettings.ReadWrite",
                    "User.Read.All",
                ]
            ),
        )
    )
    assert ok[0].status is Status.READY
    short = run_checks(advanced_checks(graph, lambda: _token(["User.Read.All"])))
    assert short[0].status is Status.WAITING and "User.ReadWrite.All" in short[0].detail


def test_token_roles_refuses_non_jwt() -> None:
    assert token_roles(_token(["A", "B"])) == {"A", "B"}
    with pytest.raises(ValueError):
        token_roles("opaque")


def test_report_rows_for_the_table_artifact() -> None:
    clock = FakeClock()
    report = poll_until_ready(
        basic_checks(FakeGraph(clock), None, supports_message_rules=False), sleep=clock.sleep, clock=clock
    )
    assert report.rows()[0] == {
        "capability": "directory.read",
        "tier": "basic",
        "status": "ready",
        "detail": "organization Contoso",
    }


def test_bad_poll_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        poll_until_ready([], initial_delay=0)


class HybridGraph(FakeGraph):
    """The first users with mail have on-premises mailboxes (Graph: MailboxNotEnabledForRESTAPI)."""

    def get(self, path: str, *, params: dict[str, Any] | None = None, headers: Any = None) -> dict:
        from mailwarden.graph import NotFound

        if path == "/users":
            self.calls.append(path)
            return {"value": [{"id": f"u{i}", "mail": f"u{i}@contoso.com"} for i in range(4)]}
        if path.startswith(("/users/u0/", "/users/u1/")):
            self.calls.append(path)
            raise NotFound(404, "MailboxNotEnabledForRESTAPI", "The mailbox is hosted on-premise.")
        return super().get(path, params=params, headers=headers)


def test_hybrid_tenants_are_probed_on_their_first_cloud_mailbox() -> None:
    clock = FakeClock()
    graph = HybridGraph(clock)
    report = poll_until_ready(basic_checks(graph, None, supports_message_rules=True), sleep=clock.sleep, clock=clock)
    assert report.ready and report.attempts == 1
    assert "/users/u2/mailFolders" in graph.calls and "/users/u2/mailFolders/inbox/messageRules" in graph.calls
    assert "/users/u3/mailFolders" not in graph.calls  # the first cloud mailbox is kept
