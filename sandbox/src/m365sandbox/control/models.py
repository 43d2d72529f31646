"""What the control surface does to a :class:`~m365sandbox.core.Sandbox`, without HTTP.

:class:`ControlBackend` names tenants by id or domain, adds generated tenants, grants, revokes
and delays consent, injects faults, messages, rules and mailbox settings, moves the clock,
reads the ground truth and the labelled messages, and drives change notifications (the
subscription hub). Refusals are :class:`ControlNotFound` (404) and :class:`ControlInvalid` (400).
"""

from __future__ import annotations

from typing import Any

from m365sandbox.context import GraphHTTPError
from m365sandbox.core import Clock, Sandbox
from m365sandbox.state import TenantState
from m365sandbox.subscriptions import SubscriptionHub, hub_of

Json = dict[str, Any]


class ControlNotFound(LookupError):
    """No such tenant, mailbox or subscription."""


class ControlInvalid(ValueError):
    """A request the sandbox cannot carry out as given."""


def tenant_summary(t: TenantState) -> Json:
    return {"id": t.id, "domain": t.domain, "cloud": t.cloud, "display_name": t.display_name,
            "users": len(t.users), "groups": len(t.groups), "mailboxes": len(t.mailboxes)}


def labelled_messages(t: TenantState) -> list[Json]:
    """The messages the generator labelled, as an evaluation input: ``internet_message_id``,
    ``message_id`` (the id at generation), ``mailbox_id``, ``received``, ``label``
    (``phishing``/``legitimate``), ``source`` (``generated``/``real``) and ``deleted``.

    A scan can report its recall and false positives against the ground truth without its code
    importing the sandbox. Each labelled message is listed once per mailbox copy, wherever it sits
    now: a move keeps the seed message underneath, so quarantined or deleted copies are still
    found, with ``deleted`` telling whether the copy is in Recoverable Items now.
    """
    truth = t.truth
    out: list[Json] = []
    with t.lock:
        mailboxes = list(t.mailboxes.items())
    for mailbox_id, mb in mailboxes:
        with mb.lock:
            for item in list(mb.items.values()):
                original = str(item.base.get("id") or "")
                if original in truth.malicious_message_ids:
                    label = "phishing"
                elif original in truth.benign_message_ids:
                    label = "legitimate"
                else:
                    continue
                out.append({
                    "internet_message_id": item.base.get("internetMessageId"),
                    "message_id": original,
                    "mailbox_id": mailbox_id,
                    "received": item.base.get("receivedDateTime"),
                    "label": label,
                    "source": "real" if original in truth.labels else "generated",
                    "deleted": mb.in_dumpster(item.folder),
                })
    return out


class ControlBackend:
    """The control operations over one sandbox (thread-safe as the sandbox is)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb

    @property
    def hub(self) -> SubscriptionHub:
        return hub_of(self.sb)

    def tenant(self, ref: str) -> TenantState:
        """A tenant by id or any verified domain."""
        t = self.sb.find_tenant(ref)
        if t is None:
            raise ControlNotFound(f"no tenant {ref}")
        return t

    # -- tenants and consent -----------------------------------------------------------------

    def tenants(self) -> list[Json]:
        return [tenant_summary(t) for t in list(self.sb.tenants.values())]

    def add_tenant(self, params: Json) -> Json:
        """Generate a tenant (``generate_tenant`` keyword arguments)."""
        try:
            return tenant_summary(self.sb.add_generated_tenant(**params))
        except (TypeError, ValueError) as exc:
            raise ControlInvalid(str(exc)) from exc

    def grant_consent(self, ref: str, client_id: str, tier: str, propagation_seconds: float) -> Json:
        t = self.tenant(ref)
        try:
            c = self.sb.grant_consent(t.id, client_id, tier, propagation_seconds=propagation_seconds)
        except KeyError as exc:
            raise ControlNotFound(f"no app {client_id}") from exc
        except ValueError as exc:
            raise ControlInvalid(str(exc)) from exc
        return {"tier": c.tier, "roles": sorted(c.roles), "effective_at": c.effective_at}

    def revoke_consent(self, ref: str, client_id: str | None) -> Json:
        self.sb.revoke_consent(self.tenant(ref).id, client_id)
        return {"revoked": True}

    def consent_settings(self, ref: str, changes: Json) -> Json:
        """``deny`` (a refusal description, or None to lift it) and ``propagation_seconds``."""
        t = self.tenant(ref)
        if "deny" in changes:
            self.sb.deny_consent(t.id, changes["deny"])
        if "propagation_seconds" in changes:
            self.sb.set_consent_propagation(t.id, float(changes["propagation_seconds"]))
        return {"deny": t.deny_consent, "propagation_seconds": t.consent_propagation_seconds}

    # -- faults ------------------------------------------------------------------------------

    def faults(self) -> list[Json]:
        return [f.to_json() for f in self.sb.faults.list()]

    def inject_fault(self, spec: Json) -> Json:
        spec = dict(spec)
        try:
            fault = self.sb.faults.inject(spec.pop("kind"), **spec)
        except (KeyError, ValueError, TypeError) as exc:
            raise ControlInvalid(str(exc)) from exc
        return fault.to_json() if fault else {"applied": True}

    def clear_faults(self, fault_id: int | None) -> Json:
        self.sb.faults.clear(fault_id)
        return {"cleared": True}

    # -- mailboxes ---------------------------------------------------------------------------

    def inject_message(self, ref: str, user: str, message: Json, folder: str) -> Any:
        try:
            return self.sb.inject_message(self.tenant(ref).id, user, message, folder)
        except KeyError as exc:
            raise ControlNotFound(str(exc)) from exc

    def inject_rule(self, ref: str, user: str, rule: Json, hidden: bool) -> Json:
        try:
            return self.sb.inject_rule(self.tenant(ref).id, user, rule, hidden=hidden)
        except KeyError as exc:
            raise ControlNotFound(str(exc)) from exc

    def set_mailbox_settings(self, ref: str, user: str, patch: Json) -> Json:
        try:
            return self.sb.set_mailbox_settings(self.tenant(ref).id, user, patch)
        except KeyError as exc:
            raise ControlNotFound(str(exc)) from exc
        except GraphHTTPError as exc:
            raise ControlInvalid(exc.message) from exc

    # -- ground truth, tokens, clock ---------------------------------------------------------

    def truth(self, ref: str) -> Json:
        return self.sb.ground_truth(self.tenant(ref).id)

    def labels(self, ref: str) -> Json:
        return {"messages": labelled_messages(self.tenant(ref))}

    def expire_delta(self, ref: str) -> Json:
        self.sb.expire_delta_tokens(self.tenant(ref).id)
        return {"expired": True}

    def move_clock(self, set_to: float | None, advance: float | None) -> Json:
        clock = self.sb.clock
        if not isinstance(clock, Clock):
            raise ControlInvalid("the clock is not controllable")
        if set_to is not None:
            clock.set(set_to)
        if advance is not None:
            clock.advance(advance)
        return {"now": clock()}

    def reset(self) -> Json:
        self.sb.reset()
        return {"reset": True}

    # -- change notifications ----------------------------------------------------------------

    def subscriptions(self, ref: str) -> Json:
        """Every live subscription of the tenant (with its mailbox owner) and the counters."""
        tid = self.tenant(ref).id
        return {"subscriptions": self.hub.tenant_subscriptions(tid), "counters": self.hub.counters(tid)}

    def switch_notifications(self, ref: str, enabled: bool) -> Json:
        tid = self.tenant(ref).id
        self.hub.set_enabled(tid, enabled)
        return self.hub.counters(tid)

    def lifecycle(self, ref: str, sid: str, event: str) -> Json:
        try:
            sub = self.hub.lifecycle(self.tenant(ref).id, sid, event)
        except KeyError as exc:
            raise ControlNotFound(f"no subscription {sid}") from exc
        except ValueError as exc:
            raise ControlInvalid(str(exc)) from exc
        return {"sent": event, "subscriptionId": sub.id}
