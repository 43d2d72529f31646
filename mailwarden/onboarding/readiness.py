"""Readiness after consent: is each granted capability usable yet?

Right after admin consent, tokens and calls fail for a while (401/403, AADSTS errors) until the
grant propagates. Each capability is proven with a harmless, read-only call:

| capability        | tier     | proof                                                             |
|-------------------|----------|-------------------------------------------------------------------|
| directory.read    | basic    | GET /organization and GET /users?$top=1                           |
| mailbox.read      | basic    | GET /users/{id}/mailFolders?$top=1, first cloud user with mail     |
| inbox-rules.read  | basic    | GET .../mailFolders/inbox/messageRules (not in the China cloud)  |
| exchange.admin    | basic    | InvokeCommand Get-Mailbox -ResultSize 1                          |
| identity.write    | advanced | the advanced app's Graph token carries User.ReadWrite.All,       |
|                   |          | User.RevokeSessions.All, MailboxSettings.ReadWrite in ``roles``,  |
|                   |          | and GET /users?$top=1 succeeds with that token                   |

Identity writes are not exercised for real (a no-op PATCH still writes an audit event in the
customer's tenant); the signed token's ``roles`` claim is what Graph authorises writes by.
A capability the cloud lacks (inbox rules in China) is *unavailable*, reported, not awaited.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from mailwarden.graph import AuthenticationError, ConsentMissing, HostNotAllowed
from mailwarden.onboarding.consent import ADVANCED_ROLES, BASIC_ROLES, Tier

IDENTITY_WRITE_ROLES = frozenset(ADVANCED_ROLES - BASIC_ROLES)


class GraphReader(Protocol):
    """The part of ``mailwarden.graph.GraphClient`` the checks use."""

    def get(self, path: str, *, params: dict[str, Any] | None = None, headers: Any = None) -> dict: ...


class ExchangeReader(Protocol):
    """The part of ``mailwarden.exchange.ExchangeClient`` the checks use."""

    def invoke(self, cmdlet: str, parameters: dict | None = None) -> list[dict]: ...


class Status(StrEnum):
    READY = "ready"
    WAITING = "waiting"
    UNAVAILABLE = "unavailable"  # not offered in this cloud: reported, not awaited


class NotApplicable(Exception):
    """Raised by a check whose capability does not exist in the tenant's cloud."""


@dataclass(frozen=True)
class Check:
    """One capability and the call that proves it (raises when not ready)."""

    name: str
    tier: Tier
    description: str
    probe: Callable[[], str]


@dataclass(frozen=True)
class CheckResult:
    name: str
    tier: Tier
    status: Status
    detail: str

    @property
    def ready(self) -> bool:
        return self.status is Status.READY


@dataclass
class ReadinessReport:
    """The latest result per capability after polling."""

    results: list[CheckResult] = field(default_factory=list)
    attempts: int = 0
    elapsed: float = 0.0

    @property
    def ready(self) -> bool:
        """True when nothing is still waiting (unavailable capabilities do not block)."""
        return all(r.status is not Status.WAITING for r in self.results)

    @property
    def missing(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is Status.WAITING]

    def summary(self) -> str:
        parts = [f"{r.name}: {r.status.value}" for r in self.results]
        return ", ".join(parts)

    def rows(self) -> list[dict[str, str]]:
        """Rows for a table artifact."""
        return [
            {"capability": r.name, "tier": r.tier.value, "status": r.status.value, "detail": r.detail}
            for r in self.results
        ]


class NotReady(Exception):
    """Readiness did not come within the limit; the message names what is missing."""

    def __init__(self, report: ReadinessReport, limit: float) -> None:
        self.report = report
        missing = "; ".join(f"{r.name} ({r.detail})" for r in report.missing)
        super().__init__(
            f"not ready after {limit:.0f} s ({report.attempts} attempts): still missing {missing}. "
            "Consent may still be propagating: re-run onboarding with update=True later."
        )


def _describe(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:limit]


def is_permanent(exc: BaseException) -> bool:
    """Errors that waiting cannot fix: a wrong secret, a host outside the cloud."""
    if isinstance(exc, HostNotAllowed):
        return True
    if isinstance(exc, AuthenticationError) and not isinstance(exc, ConsentMissing):
        code = str(getattr(exc, "code", "") or "")
        return code in {"invalid_client", "unauthorized_client", "invalid_resource"}
    return False


class PermanentFailure(Exception):
    """A check failed in a way that waiting will not fix."""


def run_checks(checks: Iterable[Check]) -> list[CheckResult]:
    """Run each check once; failures become *waiting* results with the error's text."""
    results: list[CheckResult] = []
    for check in checks:
        try:
            detail = check.probe()
            results.append(CheckResult(check.name, check.tier, Status.READY, detail or "ok"))
        except NotApplicable as exc:
            results.append(CheckResult(check.name, check.tier, Status.UNAVAILABLE, str(exc)))
        except Exception as exc:  # any failure means "not ready yet"
            if is_permanent(exc):
                raise PermanentFailure(f"{check.name}: {_describe(exc)}") from exc
            results.append(CheckResult(check.name, check.tier, Status.WAITING, _describe(exc)))
    return results


def poll_until_ready(
    checks: Sequence[Check],
    *,
    limit: float = 300.0,
    initial_delay: float = 2.0,
    max_delay: float = 30.0,
    factor: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_attempt: Callable[[ReadinessReport], None] | None = None,
) -> ReadinessReport:
    """Re-run the checks still waiting, with exponential backoff, until all pass or ``limit`` s.

    Raises :class:`NotReady` past the limit and :class:`PermanentFailure` at once for errors
    waiting cannot fix.
    """
    if limit < 0 or initial_delay <= 0 or max_delay < initial_delay:
        raise ValueError("limit must be >= 0, initial_delay > 0 and max_delay >= initial_delay")
    start = clock()
    latest: dict[str, CheckResult] = {}
    report = ReadinessReport()
    delay = initial_delay
    pending = list(checks)
    while True:
        report.attempts += 1
        for result in run_checks(pending):
            latest[result.name] = result
        report.results = [latest[c.name] for c in checks]
        report.elapsed = clock() - start
        if on_attempt is not None:
            on_attempt(report)
        if report.ready:
            return report
        remaining = limit - report.elapsed
        if remaining <= 0:
            raise NotReady(report, limit)
        sleep(min(delay, remaining))
        delay = min(delay * factor, max_delay)
        waiting = {r.name for r in report.missing}
        pending = [c for c in checks if c.name in waiting]


# --- the checks ------------------------------------------------------------------------------


class _MailboxPicker:
    """Finds one Exchange Online mailbox, once, for the mailbox and rule checks.

    In a hybrid organisation the first users may have on-premises mailboxes, which Graph refuses
    with ``MailboxNotEnabledForRESTAPI``: those are passed over for the next user with mail.
    """

    ONPREM = "MailboxNotEnabledForRESTAPI"

    def __init__(self, graph: GraphReader) -> None:
        self.graph = graph
        self.mailbox_id: str | None = None
        self._candidates: list[str] | None = None

    def _users(self) -> list[str]:
        if self._candidates is None:
            page = self.graph.get("/users", params={"$top": "25", "$select": "id,mail,userPrincipalName"})
            self._candidates = [str(u["id"]) for u in page.get("value", []) if u.get("mail")]
            if not self._candidates:
                raise LookupError("no user with a mailbox found in the first page of /users")
        return self._candidates

    def probe(self, path: str, **params: str) -> dict[str, Any]:
        """GET ``path`` (``{id}`` filled in) on the chosen mailbox, choosing the first cloud one."""
        if self.mailbox_id is not None:
            return self.graph.get(path.format(id=self.mailbox_id), params=params or None)
        last: BaseException | None = None
        for user_id in self._users():
            try:
                found = self.graph.get(path.format(id=user_id), params=params or None)
            except Exception as exc:
                if getattr(exc, "code", None) != self.ONPREM:
                    raise
                last = exc  # an on-premises mailbox: try the next user
                continue
            self.mailbox_id = user_id
            return found
        assert last is not None
        raise last


def basic_checks(
    graph: GraphReader, exchange: ExchangeReader | None, *, supports_message_rules: bool, cloud: str = ""
) -> list[Check]:
    """The basic app's capabilities (``exchange`` None skips the Exchange admin check)."""
    pick = _MailboxPicker(graph)

    def directory() -> str:
        org = graph.get("/organization")
        graph.get("/users", params={"$top": "1", "$select": "id"})
        names = [o.get("displayName") for o in org.get("value", []) if o.get("displayName")]
        return f"organization {names[0]}" if names else "ok"

    def mailbox() -> str:
        folders = pick.probe("/users/{id}/mailFolders", **{"$top": "1"})
        return f"{len(folders.get('value', []))} folder(s) visible"

    def rules() -> str:
        if not supports_message_rules:
            raise NotApplicable(
                f"inbox-rule APIs (messageRules) are not available in the {cloud or 'this'} cloud"
            )
        found = pick.probe("/users/{id}/mailFolders/inbox/messageRules")
        return f"{len(found.get('value', []))} rule(s) visible"

    checks = [
        Check("directory.read", Tier.BASIC, "read the directory", directory),
        Check("mailbox.read", Tier.BASIC, "read a mailbox", mailbox),
        Check("inbox-rules.read", Tier.BASIC, "read inbox rules", rules),
    ]
    if exchange is not None:
        ex = exchange

        def exchange_admin() -> str:
            ex.invoke("Get-Mailbox", {"ResultSize": 1})
            return "Get-Mailbox answered"

        checks.append(Check("exchange.admin", Tier.BASIC, "Exchange admin API", exchange_admin))
    return checks


def token_roles(token: str) -> frozenset[str]:
    """The ``roles`` claim of an app-only access token (read, not verified: Graph verifies it)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ValueError("the access token is not a JWT; its roles cannot be read") from exc
    roles = claims.get("roles") or []
    return frozenset(str(r) for r in roles)


def advanced_checks(graph: GraphReader, get_token: Callable[[], str]) -> list[Check]:
    """The advanced app's capabilities: identity writes, proven by the token's roles and a read."""

    def identity_write() -> str:
        roles = token_roles(get_token())
        missing = sorted(IDENTITY_WRITE_ROLES - roles)
        if missing:
            raise PermissionError(f"token lacks {', '.join(missing)}")
        graph.get("/users", params={"$top": "1", "$select": "id"})
        return "roles " + ", ".join(sorted(IDENTITY_WRITE_ROLES))

    return [Check("identity.write", Tier.ADVANCED, "manage identities and rules", identity_write)]
