"""The sandbox tenant's mailboxes: Graph v1.0 mail routes (mailFolders, messages, delta,
move/copy/delete, attachments, messageRules, sendMail, mailboxSettings) over per-mailbox state.

Shapes follow Microsoft's v1.0 schema and docs; this package shares no code with any Graph
client. ``build_mail_router()`` is mounted under ``/v1.0`` by the sandbox app, which has
already authenticated the caller and put ``tenant``/``roles`` on ``request.state``.
"""

from fastapi import APIRouter

from m365sandbox.mail.delta import add_delta_routes
from m365sandbox.mail.folders import add_folder_routes
from m365sandbox.mail.messages import add_message_routes
from m365sandbox.mail.model import Item, MailboxState
from m365sandbox.mail.rules import add_rule_routes
from m365sandbox.mail.send import add_send_routes
from m365sandbox.mail.settings import add_settings_routes


def build_mail_router() -> APIRouter:
    """Every mail route (order matters: ``messages/delta`` and ``messageRules`` before ids)."""
    r = APIRouter()
    add_delta_routes(r)
    add_rule_routes(r)
    add_folder_routes(r)
    add_message_routes(r)
    add_send_routes(r)
    add_settings_routes(r)
    return r


__all__ = ["Item", "MailboxState", "build_mail_router"]
