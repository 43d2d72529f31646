"""Account-takeover response steps: each idempotent and written to the audit log.

Every step first claims an idempotency key in ``remediation_actions`` (``begin_action``) — tenant,
user, step and rule id (or the incident for per-user steps) — acts, then completes the record. A
key already done means the step ran before: the result is ``already_done`` and nothing is sent.
A failed step leaves its record ``planned``, so the next run retries it; the password reset first
checks whether the earlier attempt's reset went through (see :meth:`Playbook.reset_password`).

The reset password is generated here, sent once in the PATCH body and dropped: it is never
logged, stored, returned or delivered anywhere (the user gets a new one from the help desk).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from mailwarden.detection.rules import RuleContext
from mailwarden.graph import NotFound
from mailwarden.mailbox.reading import mailbox_path
from mailwarden.store.repositories import begin_action, complete_action, idempotency_key
from mailwarden.takeover import password as _password
from mailwarden.takeover.assess import RuleFinding, assess_mailbox, is_alert
from mailwarden.takeover.inventory import gather_mailbox_rules

STEPS = ("remove_rules", "forwarding_off", "revoke_sessions", "reset_password", "disable_account",
         "review_sent_items")
ADVANCED_STEPS = frozenset({"revoke_sessions", "reset_password", "disable_account"})
DEFAULT_AUTO = frozenset({"remove_rules", "forwarding_off", "revoke_sessions", "review_sent_items"})
NEEDS_ADVANCED = "skipped: needs advanced permissions"
SENT_ITEMS_MAX = 200
ACTOR = "takeover-response"
DIRECTORY_ROLE_TYPE = "#microsoft.graph.directoryRole"


@dataclass
class StepResult:
    """What one step did: done, already_done, skipped, not_needed or failed, and why."""

    step: str
    result: str
    detail: str = ""
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "result": self.result, "detail": self.detail, "items": self.items}


def validate_steps(steps: Sequence[str]) -> list[str]:
    """The steps in order, each known and listed once; ValueError otherwise."""
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise ValueError("steps must be a list of step names")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown step(s) {unknown}; known: {list(STEPS)}")
    if len(set(steps)) != len(steps):
        raise ValueError("each step may be listed once")
    return list(steps)


def validate_evidence(evidence: Any) -> dict[str, Any]:
    """Check the evidence shape (the ``mailwarden.rule.suspicious`` payload or alike); ValueError if bad."""
    if evidence is None:
        return {}
    if not isinstance(evidence, dict):
        raise ValueError("evidence must be a JSON object (e.g. the suspicious-rule event payload)")
    for key in ("rule_key", "user", "tenant", "risk"):
        if key in evidence and evidence[key] is not None and not isinstance(evidence[key], str):
            raise ValueError(f"evidence.{key} must be a string")
    for key in ("reasons", "rule_keys"):
        value = evidence.get(key)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise ValueError(f"evidence.{key} must be a list of strings")
    if evidence.get("first_seen") is not None:
        parse_time(evidence["first_seen"])
    try:
        json.dumps(evidence)
    except (TypeError, ValueError) as exc:
        raise ValueError("evidence must be JSON-serialisable") from exc
    return dict(evidence)


def parse_time(value: Any) -> datetime:
    """An ISO-8601 timestamp (naive = UTC); ValueError otherwise."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"not an ISO-8601 timestamp: {value!r}") from None
    else:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def evidence_rule_keys(evidence: dict[str, Any]) -> list[str]:
    """Rule keys the evidence names (``rule_key`` and ``rule_keys``), forwarding excluded."""
    keys = [evidence["rule_key"]] if evidence.get("rule_key") else []
    keys += list(evidence.get("rule_keys") or [])
    return [k for k in dict.fromkeys(keys) if k != "forwarding"]


def incident_id(evidence: dict[str, Any]) -> str:
    """A stable id of one incident: ``evidence["incident"]`` or a hash of the evidence."""
    if isinstance(evidence.get("incident"), str) and evidence["incident"]:
        return evidence["incident"][:64]
    return hashlib.sha256(json.dumps(evidence, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Playbook:
    """The steps against one user; ``graph_admin`` is the advanced app's client (None on basic tier)."""

    tenant_id: str
    user_id: str
    upn: str
    graph: Any
    exchange: Any
    store: Any
    evidence: dict[str, Any]
    rule_context: RuleContext
    graph_admin: Any = None
    message_rules: bool = True
    threshold: str = "medium"
    flow_run_id: str | None = None
    protected_upns: frozenset[str] = frozenset()
    """Lower-case UPNs and object ids never disabled or reset (the policy's ``never_disable``)."""
    password_factory: Callable[[], str] = field(default=lambda: _password.generate_password())
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    mailbox: Any = None
    """The user's :class:`~mailwarden.mailbox.access.MailboxAccess` when the mailbox is on-premises
    (rules read and removed, sent items reviewed through EWS); None: Graph and Exchange Online."""

    def __post_init__(self) -> None:
        self.incident = incident_id(self.evidence)
        self._since: datetime | None = None

    # -- audit --------------------------------------------------------------------------------
    def _key(self, step: str, item: str) -> str:
        return idempotency_key(self.tenant_id, self.user_id, step, item)

    def _claim(self, step: str, item: str, target_kind: str, target: str, approval: str,
               reason: str) -> tuple[str, bool]:
        key = self._key(step, item)
        with self.store.session() as s:
            rec, created = begin_action(s, key, tenant_id=self.tenant_id, target_kind=target_kind, target=target,
                                        action=step, actor=ACTOR, mailbox_id=self.user_id, reason=reason[:500],
                                        approval=approval, flow_run_id=self.flow_run_id)
            fresh = created or rec.state != "done"
        return key, fresh

    def _complete(self, key: str, result: str, details: dict[str, Any] | None = None) -> None:
        with self.store.session() as s:
            complete_action(s, key, result, details=details)

    def _audited(self, step: str, item: str, target_kind: str, target: str, approval: str, reason: str,
                 act: Callable[[], tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
        key, fresh = self._claim(step, item, target_kind, target, approval, reason)
        if not fresh:
            return "already_done", {}
        result, details = act()
        self._complete(key, result, details)
        return result, details

    # -- inventory ----------------------------------------------------------------------------
    def suspicious_rules(self) -> list[RuleFinding]:
        """The user's rules now at/above the threshold, plus any the evidence names (forwarding apart)."""
        inv = self.mailbox.rules_inventory(self.exchange) if self.mailbox is not None else \
            gather_mailbox_rules(self.graph, self.exchange, self.user_id, message_rules=self.message_rules)
        named = set(evidence_rule_keys(self.evidence))
        found = [f for f in assess_mailbox(inv, None, self.rule_context)
                 if f.rule_key in named or is_alert(f, self.threshold)]
        return found

    # -- steps --------------------------------------------------------------------------------
    def remove_rules(self, approval: str) -> StepResult:
        """Delete the suspicious rules: Graph DELETE (advanced app) or Remove-InboxRule (hidden ones, basic)."""
        current = self.suspicious_rules()
        present = {f.rule_key for f in current}
        items: list[dict[str, Any]] = []
        for f in current:
            def act(f: RuleFinding = f) -> tuple[str, dict[str, Any]]:
                return "done", self._delete_rule(f)
            result, details = self._audited("remove_rules", f.rule_key, "inbox_rule", f.rule_key, approval,
                                            "; ".join(f.reason_texts()) or "named in evidence", act)
            items.append({"rule_key": f.rule_key, "name": f.name, "hidden": f.hidden, "result": result,
                          **({"via": details["via"]} if "via" in details else {})})
        for key in evidence_rule_keys(self.evidence):
            if key not in present:
                with self.store.session() as s:
                    from mailwarden.store.repositories import get_action

                    done = get_action(s, self._key("remove_rules", key))
                items.append({"rule_key": key, "result": "already_done" if done else "not_needed",
                              **({} if done else {"detail": "rule no longer present"})})
        if not items:
            result, _ = self._audited("remove_rules", "none", "mailbox", self.user_id, approval,
                                      "no suspicious rule", lambda: ("skipped", {"detail": "no suspicious rule"}))
            return StepResult("remove_rules", "already_done" if result == "already_done" else "not_needed",
                              "no suspicious rule in the mailbox")
        results = {i["result"] for i in items}
        overall = "done" if "done" in results else ("already_done" if "already_done" in results else "not_needed")
        return StepResult("remove_rules", overall, f"{len(items)} rule(s)", items)

    def _delete_rule(self, f: RuleFinding) -> dict[str, Any]:
        if self.mailbox is not None and f.graph_id:
            removed = self.mailbox.remove_inbox_rule(f.graph_id)
            return {"via": "ews", **({} if removed else {"note": "already gone"})}
        # Graph refuses to delete a read-only rule (made by a client); Remove-InboxRule can remove it
        read_only = bool(f.content.get("isReadOnly")) and bool(f.exchange_identity)
        if f.source == "graph" and self.graph_admin is not None and f.graph_id and not read_only:
            try:
                self.graph_admin.delete(f"{mailbox_path(self.user_id)}/mailFolders/inbox/messageRules/"
                                        f"{quote(f.graph_id, safe='')}")
            except NotFound:
                return {"via": "graph", "note": "already gone"}
            return {"via": "graph"}
        identity = f.exchange_identity or str(f.content.get("Identity") or "")
        if not identity:
            raise ValueError(f"rule {f.rule_key} has no Exchange identity to remove it by")
        try:
            self.exchange.remove_inbox_rule(self.user_id, identity)
        except NotFound:
            return {"via": "exchange", "note": "already gone"}
        return {"via": "exchange"}

    def forwarding_off(self, approval: str) -> StepResult:
        """Clear mailbox forwarding (Set-Mailbox) when it is set."""
        if self.mailbox is not None:
            return StepResult("forwarding_off", "not_needed",
                              "on-premises mailbox: its forwarding is managed on the on-premises Exchange")
        mailbox = self.exchange.get_mailbox(self.user_id)
        target = mailbox.get("ForwardingSmtpAddress") or mailbox.get("ForwardingAddress")

        def act() -> tuple[str, dict[str, Any]]:
            if not target:
                return "skipped", {"detail": "no forwarding set"}
            self.exchange.disable_mailbox_forwarding(self.user_id)
            return "done", {"was": str(target)}

        result, details = self._audited("forwarding_off", self.incident, "mailbox", self.user_id, approval,
                                        f"forwarding to {target}" if target else "check forwarding", act)
        if result == "skipped":
            return StepResult("forwarding_off", "not_needed", "no forwarding was set")
        return StepResult("forwarding_off", result, f"forwarding to {details.get('was', target)} turned off"
                          if result == "done" else "done in an earlier run")

    def _needs_advanced(self, step: str) -> StepResult | None:
        if self.graph_admin is None:
            return StepResult(step, "skipped", NEEDS_ADVANCED)
        return None

    def revoke_sessions(self, approval: str) -> StepResult:
        """POST /users/{id}/revokeSignInSessions (advanced app)."""
        if (skip := self._needs_advanced("revoke_sessions")) is not None:
            return skip

        def act() -> tuple[str, dict[str, Any]]:
            self.graph_admin.post(f"/users/{self.user_id}/revokeSignInSessions")
            return "done", {}

        result, _ = self._audited("revoke_sessions", self.incident, "user", self.user_id, approval,
                                  "account takeover response", act)
        return StepResult("revoke_sessions", result, "sign-in sessions revoked" if result == "done" else "")

    def reset_password(self, approval: str) -> StepResult:
        """PATCH a random strong password (force change at next sign-in); delivered nowhere.

        Safe under crash and retry: a reset set twice would silently void the first password. Before
        claiming the step, the user's ``lastPasswordChangeDateTime`` (Graph sets it on every password
        change, to the second) is read and kept in the planned record. A re-run that finds the step begun
        but not completed reads it again: changed since, the earlier attempt's PATCH went through, so the
        step is recorded done and nothing is set again (the password from that attempt stands; reset it
        again explicitly if it was lost); unchanged, the PATCH never happened and the reset runs. Comparing
        two values of Graph's own clock needs no clock agreement with Graph. A record begun without that
        value falls back to comparing with the begin time (floored to Graph's whole seconds). Graph does
        not say who changed a password: one changed by someone else in the crash window counts as ours.
        """
        if (skip := self._needs_advanced("reset_password")) is not None:
            return skip
        if (guard := self.identity_guard("reset_password")) is not None:
            return guard
        before = self._last_password_change()
        key = self._key("reset_password", self.incident)
        with self.store.session() as s:
            rec, created = begin_action(s, key, tenant_id=self.tenant_id, target_kind="user", target=self.user_id,
                                        action="reset_password", actor=ACTOR, mailbox_id=self.user_id,
                                        reason="account takeover response", approval=approval,
                                        flow_run_id=self.flow_run_id, details={"password_changed_before": before})
            state, begun, recorded = rec.state, rec.created_at, dict(rec.details or {})
        if not created and state == "done":
            return StepResult("reset_password", "already_done", "")
        if not created and _changed_since(recorded, begun, before):
            self._complete(key, "done", {"force_change_next_sign_in": True, "delivered": "nowhere",
                                         "completed_by": "earlier attempt", "password_changed_at": before})
            return StepResult("reset_password", "done",
                              "completed by the earlier attempt: the password changed after the step began, so it "
                              "was not reset again; the password from that attempt stands (reset again explicitly "
                              "if it was lost)")
        body = {"passwordProfile": {"password": self.password_factory(), "forceChangePasswordNextSignIn": True}}
        try:
            self.graph_admin.patch(f"/users/{self.user_id}", body)
        finally:
            body.clear()
        self._complete(key, "done", {"force_change_next_sign_in": True, "delivered": "nowhere"})
        return StepResult("reset_password", "done",
                          "password reset to a random value, change forced at next sign-in; the password was not "
                          "delivered anywhere: the user gets a new one through the help desk")

    def _last_password_change(self) -> str | None:
        """The user's ``lastPasswordChangeDateTime`` as Graph gives it (None if unset)."""
        user = self.graph_admin.get(f"/users/{self.user_id}", params={"$select": "id,lastPasswordChangeDateTime"})
        value = user.get("lastPasswordChangeDateTime")
        return str(value) if value else None

    def is_admin(self) -> tuple[bool | None, str]:
        """Whether the user holds a directory role, directly or through a role-assignable group
        (``transitiveMemberOf``); None when that cannot be read (throttled, refused, gone): unknown."""
        try:
            memberships = list(self.graph.iter_pages(f"/users/{self.user_id}/transitiveMemberOf",
                                                     params={"$select": "id,displayName"}))
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, the answer is "unknown" (fail closed)
            return None, f"admin status unknown: directory roles could not be read ({type(exc).__name__})"
        roles = [m for m in memberships if m.get("@odata.type") == DIRECTORY_ROLE_TYPE]
        return bool(roles), "holds a directory role" if roles else "no directory role"

    def identity_guard(self, step: str) -> StepResult | None:
        """Refuse a step that locks the user out when the user is listed in the policy's
        ``never_disable``, holds a directory role, or when that cannot be told (fail closed)."""
        if self.user_id.lower() in self.protected_upns or self.upn.lower() in self.protected_upns:
            return StepResult(step, "skipped", "protected by the tenant's policy (never_disable): not touched")
        admin, how = self.is_admin()
        if admin is None:
            return StepResult(step, "skipped", f"{how}: not done; check the account's roles and do it by hand "
                              "if needed")
        if admin:
            return StepResult(step, "skipped",
                              f"admin account ({how}): never done automatically, do it by hand if needed")
        return None

    def disable_account(self, approval: str) -> StepResult:
        """PATCH accountEnabled false; never for an admin, a protected account, or when unsure."""
        if (skip := self._needs_advanced("disable_account")) is not None:
            return skip
        if (guard := self.identity_guard("disable_account")) is not None:
            return guard

        def act() -> tuple[str, dict[str, Any]]:
            self.graph_admin.patch(f"/users/{self.user_id}", {"accountEnabled": False})
            return "done", {}

        result, _ = self._audited("disable_account", self.incident, "user", self.user_id, approval,
                                  "account takeover response", act)
        return StepResult("disable_account", result, "account disabled" if result == "done" else "")

    def since(self) -> datetime:
        """When the suspicious rule appeared (evidence ``first_seen``), else 7 days ago."""
        if self.evidence.get("first_seen"):
            return parse_time(self.evidence["first_seen"])
        return self.now() - timedelta(days=7)

    def review_sent_items(self, approval: str) -> StepResult:
        """Sent items since the rule appeared: count and subjects (read only, not audited as an action)."""
        since = self.since().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        items = []
        sent = self.mailbox.iter_messages(since=self.since(), folder="sentitems") if self.mailbox is not None \
            else self.graph.iter_pages(f"/users/{self.user_id}/mailFolders/sentitems/messages",
                                       params={"$filter": f"sentDateTime ge {since}",
                                               "$select": "subject,sentDateTime,toRecipients", "$top": "50"})
        for msg in sent:
            to = [r.get("emailAddress", {}).get("address") for r in msg.get("toRecipients") or []]
            items.append({"subject": msg.get("subject") or "", "sent": msg.get("sentDateTime"), "to": to[:5]})
            if len(items) >= SENT_ITEMS_MAX:
                break
        return StepResult("review_sent_items", "done", f"{len(items)} message(s) sent since {since}", items)

    def run_step(self, step: str, approval: str) -> StepResult:
        """Run one named step."""
        return getattr(self, validate_steps([step])[0])(approval)


def _changed_since(recorded: dict[str, Any], begun: datetime, now_value: str | None) -> bool:
    """Whether the password changed after a reset step began (see :meth:`Playbook.reset_password`)."""
    if "password_changed_before" in recorded:
        return now_value != recorded["password_changed_before"]
    if now_value is None:
        return False
    start = (begun if begun.tzinfo else begun.replace(tzinfo=UTC)).replace(microsecond=0)
    return parse_time(now_value) >= start
