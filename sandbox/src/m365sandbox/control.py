"""``/_sandbox/...``: the JSON control surface (loopback only, no token) over :class:`Sandbox`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, HTTPException

from m365sandbox.context import GraphHTTPError
from m365sandbox.core import Clock, Sandbox
from m365sandbox.state import TenantState

Json = dict[str, Any]


def tenant_summary(t: TenantState) -> Json:
    return {"id": t.id, "domain": t.domain, "cloud": t.cloud, "display_name": t.display_name,
            "users": len(t.users), "groups": len(t.groups), "mailboxes": len(t.mailboxes)}


def build_control_router(sb: Sandbox) -> APIRouter:
    r = APIRouter(prefix="/_sandbox")

    def tenant(tid: str) -> TenantState:
        t = sb.find_tenant(tid)
        if t is None:
            raise HTTPException(404, f"no tenant {tid}")
        return t

    @r.get("/tenants")
    def tenants() -> list[Json]:
        return [tenant_summary(t) for t in list(sb.tenants.values())]

    @r.post("/tenants")
    def add_tenant(body: Json = Body(default_factory=dict)) -> Json:
        try:
            return tenant_summary(sb.add_generated_tenant(**body))
        except ImportError as exc:
            raise HTTPException(501, "the tenant generator is not available") from exc
        except (TypeError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from exc

    @r.post("/tenants/{tid}/consent")
    def consent(tid: str, body: Json = Body(...)) -> Json:
        t = tenant(tid)
        c = sb.grant_consent(t.id, body["client_id"], body.get("tier", "basic"),
                             propagation_seconds=float(body.get("propagation_seconds", 0)))
        return {"tier": c.tier, "roles": sorted(c.roles), "effective_at": c.effective_at}

    @r.delete("/tenants/{tid}/consent")
    def revoke(tid: str, client_id: str | None = None) -> Json:
        sb.revoke_consent(tenant(tid).id, client_id)
        return {"revoked": True}

    @r.post("/tenants/{tid}/consent-settings")
    def consent_settings(tid: str, body: Json = Body(...)) -> Json:
        t = tenant(tid)
        if "deny" in body:
            sb.deny_consent(t.id, body["deny"])
        if "propagation_seconds" in body:
            sb.set_consent_propagation(t.id, float(body["propagation_seconds"]))
        return {"deny": t.deny_consent, "propagation_seconds": t.consent_propagation_seconds}

    @r.get("/faults")
    def faults() -> list[Json]:
        return [f.to_json() for f in sb.faults.list()]

    @r.post("/faults")
    def inject(body: Json = Body(...)) -> Json:
        body = dict(body)
        try:
            f = sb.faults.inject(body.pop("kind"), **body)
        except (KeyError, ValueError, TypeError) as exc:
            raise HTTPException(400, str(exc)) from exc
        return f.to_json() if f else {"applied": True}

    @r.delete("/faults")
    def clear(fault_id: int | None = None) -> Json:
        sb.faults.clear(fault_id)
        return {"cleared": True}

    @r.post("/tenants/{tid}/mailboxes/{user}/messages")
    def inject_message(tid: str, user: str, body: Json = Body(...)) -> Any:
        try:
            return sb.inject_message(tenant(tid).id, user, body["message"], body.get("folder", "inbox"))
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        except AttributeError as exc:
            raise HTTPException(501, "mailbox does not support message injection") from exc

    @r.post("/tenants/{tid}/mailboxes/{user}/rules")
    def inject_rule(tid: str, user: str, body: Json = Body(...)) -> Json:
        try:
            return sb.inject_rule(tenant(tid).id, user, body["rule"], hidden=bool(body.get("hidden")))
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc

    @r.patch("/tenants/{tid}/mailboxes/{user}/settings")
    def mailbox_settings(tid: str, user: str, body: Json = Body(...)) -> Json:
        try:
            return sb.set_mailbox_settings(tenant(tid).id, user, body)
        except KeyError as exc:
            raise HTTPException(404, str(exc)) from exc
        except GraphHTTPError as exc:
            raise HTTPException(400, exc.message) from exc

    @r.get("/tenants/{tid}/truth")
    def truth(tid: str) -> Json:
        return sb.ground_truth(tenant(tid).id)

    @r.get("/tenants/{tid}/labels")
    def labels(tid: str) -> Json:
        from m365sandbox.labels import labelled_messages

        return {"messages": labelled_messages(tenant(tid))}

    @r.post("/tenants/{tid}/expire-delta")
    def expire_delta(tid: str) -> Json:
        sb.expire_delta_tokens(tenant(tid).id)
        return {"expired": True}

    @r.post("/clock")
    def clock(body: Json = Body(...)) -> Json:
        if not isinstance(sb.clock, Clock):
            raise HTTPException(400, "the clock is not controllable")
        if "set" in body:
            sb.clock.set(float(body["set"]))
        if "advance" in body:
            sb.clock.advance(float(body["advance"]))
        return {"now": sb.clock()}

    @r.post("/reset")
    def reset() -> Json:
        sb.reset()
        return {"reset": True}

    return r
