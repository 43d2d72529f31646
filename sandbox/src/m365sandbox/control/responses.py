"""``/_sandbox/...`` handlers: parse the JSON body or query, call
:class:`~m365sandbox.control.models.ControlBackend`, answer JSON (loopback only, no token: the
gate in :mod:`m365sandbox.app` refuses other clients). A refusal is ``{"detail": ...}`` with
404 (no such tenant, mailbox or subscription) or 400 (a request that cannot be carried out)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Body, HTTPException, Request

from m365sandbox.control.models import ControlBackend, ControlInvalid, ControlNotFound

Json = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")


def _control(request: Request) -> ControlBackend:
    return ControlBackend(request.app.state.sandbox)


def refusals(handler: Callable[P, R]) -> Callable[P, R]:
    """Render the backend's refusals as HTTP errors."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except ControlNotFound as exc:
            raise HTTPException(404, str(exc.args[0] if exc.args else exc)) from exc
        except ControlInvalid as exc:
            raise HTTPException(400, str(exc)) from exc

    return wrapper


@refusals
def list_tenants(request: Request) -> list[Json]:
    return _control(request).tenants()


@refusals
def add_tenant(request: Request, body: Annotated[Json | None, Body()] = None) -> Json:
    return _control(request).add_tenant(body or {})


@refusals
def grant_consent(request: Request, tid: str, body: Annotated[Json, Body()]) -> Json:
    if "client_id" not in body:
        raise ControlInvalid("client_id is required")
    return _control(request).grant_consent(tid, str(body["client_id"]), str(body.get("tier", "basic")),
                                           float(body.get("propagation_seconds", 0)))


@refusals
def revoke_consent(request: Request, tid: str, client_id: str | None = None) -> Json:
    return _control(request).revoke_consent(tid, client_id)


@refusals
def consent_settings(request: Request, tid: str, body: Annotated[Json, Body()]) -> Json:
    return _control(request).consent_settings(tid, body)


@refusals
def list_faults(request: Request) -> list[Json]:
    return _control(request).faults()


@refusals
def inject_fault(request: Request, body: Annotated[Json, Body()]) -> Json:
    return _control(request).inject_fault(body)


@refusals
def clear_faults(request: Request, fault_id: int | None = None) -> Json:
    return _control(request).clear_faults(fault_id)


@refusals
def inject_message(request: Request, tid: str, user: str, body: Annotated[Json, Body()]) -> Any:
    if not isinstance(body.get("message"), dict):
        raise ControlInvalid("message (a Graph message object) is required")
    return _control(request).inject_message(tid, user, body["message"], str(body.get("folder", "inbox")))


@refusals
def inject_rule(request: Request, tid: str, user: str, body: Annotated[Json, Body()]) -> Json:
    if not isinstance(body.get("rule"), dict):
        raise ControlInvalid("rule (a Graph messageRule or a Get-InboxRule object) is required")
    return _control(request).inject_rule(tid, user, body["rule"], bool(body.get("hidden")))


@refusals
def mailbox_settings(request: Request, tid: str, user: str, body: Annotated[Json, Body()]) -> Json:
    return _control(request).set_mailbox_settings(tid, user, body)


@refusals
def truth(request: Request, tid: str) -> Json:
    return _control(request).truth(tid)


@refusals
def labels(request: Request, tid: str) -> Json:
    return _control(request).labels(tid)


@refusals
def expire_delta(request: Request, tid: str) -> Json:
    return _control(request).expire_delta(tid)


@refusals
def clock(request: Request, body: Annotated[Json, Body()]) -> Json:
    set_to, advance = body.get("set"), body.get("advance")
    return _control(request).move_clock(None if set_to is None else float(set_to),
                                        None if advance is None else float(advance))


@refusals
def reset(request: Request) -> Json:
    return _control(request).reset()


@refusals
def subscriptions(request: Request, tid: str) -> Json:
    return _control(request).subscriptions(tid)


@refusals
def notifications(request: Request, tid: str, body: Annotated[Json, Body()]) -> Json:
    return _control(request).switch_notifications(tid, bool(body.get("enabled", True)))


@refusals
def lifecycle(request: Request, tid: str, sid: str, body: Annotated[Json, Body()]) -> Json:
    return _control(request).lifecycle(tid, sid, str(body.get("event")))
