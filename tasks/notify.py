"""Notifications every flow can send: to a saved Prefect notification block, or by mail.

``notify(target, subject, body)`` loads a notification block by name and sends through it:
``SlackWebhook``, ``MicrosoftTeamsWebhook`` or ``CustomWebhookNotificationBlock`` (a bare name
is tried as each of those types; ``"slack-webhook/ops"`` names the type explicitly). No target,
no notification (logged). ``notify_by_mail(graph, sender_upn, to, subject, body)`` sends through
Graph ``sendMail`` (202 = accepted, not delivered).

Nothing sent may carry a secret: texts pass through :func:`scrub`, which masks bearer tokens,
JWTs and ``secret=``/``password=`` style values, and never hold credentials to begin with.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, cast

from prefect import task
from prefect.blocks.core import Block
from prefect.blocks.notifications import (
    CustomWebhookNotificationBlock,
    MicrosoftTeamsWebhook,
    NotificationBlock,
    SlackWebhook,
)
from prefect.exceptions import MissingContextError

NOTIFICATION_TYPES: tuple[type[NotificationBlock], ...] = (
    CustomWebhookNotificationBlock,
    SlackWebhook,
    MicrosoftTeamsWebhook,
)

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+")
_KEYVAL = re.compile(
    r"(?i)\b(client_secret|secret|password|access_token|refresh_token|client_assertion|state)"
    r"(\s*[=:]\s*)[^\s&\"',;]+"
)


def scrub(text: str, extra: Sequence[str] = ()) -> str:
    """``text`` with tokens, secret-looking values and each of ``extra`` masked."""
    out = _JWT.sub("[redacted-token]", text)
    out = _BEARER.sub("Bearer [redacted]", out)
    out = _KEYVAL.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", out)
    for value in extra:
        if value:
            out = out.replace(value, "[redacted]")
    return out


def _logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    from prefect import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger("mailwarden.notify")


def load_notification_block(target: str) -> NotificationBlock:
    """The notification block saved as ``target`` (``name`` or ``type-slug/name``)."""
    if not target or not target.strip():
        raise ValueError("a notification target (block name) is required")
    target = target.strip()
    if "/" in target:
        block = cast(Block, Block.load(target))
        if not isinstance(block, NotificationBlock):
            raise ValueError(f"block {target!r} is not a notification block")
        return block
    for kind in NOTIFICATION_TYPES:
        try:
            return cast(NotificationBlock, kind.load(target))
        except ValueError:
            continue
    kinds = ", ".join(k.get_block_type_slug() for k in NOTIFICATION_TYPES)
    raise ValueError(f"no notification block named {target!r} (looked for {kinds})")


def notify(target: str | None, subject: str, body: str, *, redact: Sequence[str] = ()) -> bool:
    """Send ``subject``/``body`` through the notification block ``target``; False if none."""
    log = _logger()
    if not target:
        log.info("no notification target: not notifying (%s)", subject)
        return False
    block = load_notification_block(target)
    cast(Any, block).notify(body=scrub(body, redact), subject=scrub(subject, redact))
    log.info("notified %s: %s", target, subject)
    return True


def notify_by_mail(
    graph_client: Any,
    sender_upn: str,
    to: str | Sequence[str],
    subject: str,
    body: str,
    *,
    redact: Sequence[str] = (),
) -> None:
    """Mail ``body`` (plain text) from ``sender_upn``'s mailbox via Graph ``sendMail``."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not sender_upn or "@" not in sender_upn:
        raise ValueError("sender_upn must be a mailbox address")
    if not recipients or any("@" not in r for r in recipients):
        raise ValueError("every recipient must be a mail address")
    message = {
        "subject": scrub(subject, redact),
        "body": {"contentType": "Text", "content": scrub(body, redact)},
        "toRecipients": [{"emailAddress": {"address": r}} for r in recipients],
    }
    graph_client.post(f"/users/{sender_upn}/sendMail", json={"message": message, "saveToSentItems": False})
    _logger().info("mailed %s from %s: %s", ", ".join(recipients), sender_upn, subject)


@task(name="notify", retries=2, retry_delay_seconds=5)
def notify_task(target: str | None, subject: str, body: str) -> bool:
    """``notify`` as a task with retries, for flows."""
    return notify(target, subject, body)
