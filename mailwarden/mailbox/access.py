"""One interface to a mailbox wherever it lives: Exchange Online (Graph) or on-premises (EWS).

Flows ask a :class:`MailboxRouter` for a mailbox's :class:`MailboxAccess` and never branch on the
kind of mailbox. The router knows each mailbox's side from the address book
(``mailbox_location``: ``cloud`` or ``onprem``). :class:`GraphAccess` delegates to
:mod:`mailwarden.mailbox.reading` / :mod:`~mailwarden.mailbox.actions`; :class:`EwsAccess` to
:mod:`mailwarden.mailbox.ews`. Both return Graph-shaped dicts, and both act through the same
audited, idempotent :func:`~mailwarden.mailbox.actions.apply_message_action`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

from sqlalchemy.orm import Session

from mailwarden.graph import GraphClient, NotFound
from mailwarden.mailbox.actions import (
    Action,
    ActionOutcome,
    apply_message_action,
    ensure_quarantine_folder,
    restore_action,
)
from mailwarden.mailbox.ews import EwsConnection, EwsMailbox, EwsSettings, OnPremUnavailable, connection_for
from mailwarden.mailbox.reading import MessageQuery, find_messages, folder_names, iter_messages, mailbox_path, matches
from mailwarden.takeover.inventory import MailboxRules, gather_mailbox_rules

Location = Literal["cloud", "onprem"]
SIDE_LABEL: dict[str, str] = {"cloud": "cloud", "onprem": "on-premises"}


@runtime_checkable
class MailboxAccess(Protocol):
    """What the flows do with a mailbox (messages are Graph ``message`` dicts, rules ``messageRule``)."""

    mailbox_id: str
    location: Location

    def iter_messages(self, *, since: datetime | None = None, folder: str | None = None,
                      page_size: int = 250) -> Iterator[dict[str, Any]]:
        """Messages with what detection reads (attachments included), lazily."""
        ...

    def find_messages(self, query: MessageQuery) -> list[dict[str, Any]]:
        """Every message of the mailbox (any visible folder) matching ``query``."""
        ...

    def folder_names(self) -> dict[str, str]:
        """Folder id -> path of display names."""
        ...

    def ensure_quarantine_folder(self) -> str:
        """The quarantine folder's id, created when missing."""
        ...

    def apply_action(self, session: Session, *, tenant_id: str, message: dict[str, Any], action: Action,
                     actor: str, reason: str, approval: str, flow_run_id: str | None,
                     scope: str = "") -> ActionOutcome:
        """Quarantine / move to junk / soft or hard delete one message, once (audited)."""
        ...

    def restore(self, session: Session, *, action_record: Any, actor: str, reason: str,
                flow_run_id: str | None) -> ActionOutcome:
        """Put back what a recorded action moved (audited, once)."""
        ...

    def inbox_rules(self) -> list[dict[str, Any]]:
        """The inbox rules (Graph ``messageRule`` dicts)."""
        ...

    def remove_inbox_rule(self, rule_id: str) -> bool:
        """Delete one inbox rule; False when it was already gone."""
        ...

    def rules_inventory(self, exchange: Any, *, message_rules: bool = True) -> MailboxRules:
        """Everything rule-shaped in the mailbox, for the rules audit."""
        ...


class GraphAccess:
    """A cloud mailbox through Microsoft Graph."""

    location: Location = "cloud"

    def __init__(self, client: GraphClient, mailbox_id: str) -> None:
        self.client = client
        self.mailbox_id = mailbox_id

    def iter_messages(self, *, since: datetime | None = None, folder: str | None = None,
                      page_size: int = 250) -> Iterator[dict[str, Any]]:
        return iter_messages(self.client, self.mailbox_id, since=since, folder=folder, page_size=page_size)

    def find_messages(self, query: MessageQuery) -> list[dict[str, Any]]:
        return find_messages(self.client, self.mailbox_id, query)

    def folder_names(self) -> dict[str, str]:
        return folder_names(self.client, self.mailbox_id)

    def ensure_quarantine_folder(self) -> str:
        return ensure_quarantine_folder(self.client, self.mailbox_id)

    def apply_action(self, session: Session, *, tenant_id: str, message: dict[str, Any], action: Action,
                     actor: str, reason: str, approval: str, flow_run_id: str | None,
                     scope: str = "") -> ActionOutcome:
        return apply_message_action(self.client, session, tenant_id=tenant_id, mailbox_id=self.mailbox_id,
                                    message=message, action=action, actor=actor, reason=reason, approval=approval,
                                    flow_run_id=flow_run_id, scope=scope)

    def restore(self, session: Session, *, action_record: Any, actor: str, reason: str,
                flow_run_id: str | None) -> ActionOutcome:
        return restore_action(self.client, session, action_record=action_record, actor=actor, reason=reason,
                              flow_run_id=flow_run_id)

    def _rules_path(self) -> str:
        return f"{mailbox_path(self.mailbox_id)}/mailFolders/inbox/messageRules"

    def inbox_rules(self) -> list[dict[str, Any]]:
        return list(self.client.iter_pages(self._rules_path()))

    def remove_inbox_rule(self, rule_id: str) -> bool:
        try:
            self.client.delete(f"{self._rules_path()}/{quote(rule_id, safe='')}")
        except NotFound:
            return False
        return True

    def rules_inventory(self, exchange: Any, *, message_rules: bool = True) -> MailboxRules:
        return gather_mailbox_rules(self.client, exchange, self.mailbox_id, message_rules=message_rules)


class EwsAccess:
    """An on-premises mailbox through EWS (exchangelib)."""

    location: Location = "onprem"

    def __init__(self, connection: EwsConnection, mailbox_id: str, smtp: str) -> None:
        self.mailbox_id = mailbox_id
        self.smtp = smtp
        self.ews = EwsMailbox(connection, mailbox_id, smtp)

    def iter_messages(self, *, since: datetime | None = None, folder: str | None = None,
                      page_size: int = 250) -> Iterator[dict[str, Any]]:
        return self.ews.iter_messages(since=since, folder=folder, page_size=page_size)

    def find_messages(self, query: MessageQuery) -> list[dict[str, Any]]:
        if query.is_empty():
            raise ValueError("a message query needs at least one criterion")
        found = self.ews.iter_messages(internet_message_id=query.internet_message_id,
                                       attachment_content=bool(query.attachment_sha256))
        return [m for m in found if matches(m, query)]

    def folder_names(self) -> dict[str, str]:
        return self.ews.folder_names()

    def ensure_quarantine_folder(self) -> str:
        return str(self.ews.ensure_quarantine_folder().id)

    def apply_action(self, session: Session, *, tenant_id: str, message: dict[str, Any], action: Action,
                     actor: str, reason: str, approval: str, flow_run_id: str | None,
                     scope: str = "") -> ActionOutcome:
        return apply_message_action(None, session, tenant_id=tenant_id,  # type: ignore[arg-type]
                                    mailbox_id=self.mailbox_id, message=message, action=action, actor=actor,
                                    reason=reason, approval=approval, flow_run_id=flow_run_id, scope=scope,
                                    act=self.ews.act)

    def restore(self, session: Session, *, action_record: Any, actor: str, reason: str,
                flow_run_id: str | None) -> ActionOutcome:
        return restore_action(None, session, action_record=action_record, actor=actor,  # type: ignore[arg-type]
                              reason=reason, flow_run_id=flow_run_id, move=self.ews.move, locate=self.ews.locate)

    def inbox_rules(self) -> list[dict[str, Any]]:
        return self.ews.inbox_rules()

    def remove_inbox_rule(self, rule_id: str) -> bool:
        return self.ews.remove_inbox_rule(rule_id)

    def rules_inventory(self, exchange: Any, *, message_rules: bool = True) -> MailboxRules:
        names = self.ews.folder_names()
        rules = []
        for rule in self.inbox_rules():
            actions = dict(rule.get("actions") or {})
            for key in ("moveToFolder", "copyToFolder"):
                fid = actions.get(key)
                if isinstance(fid, str) and fid:
                    actions[key], actions[f"{key}Id"] = names.get(fid, fid).rsplit("/", 1)[-1], fid
            rules.append({**rule, "actions": actions})
        return MailboxRules(self.mailbox_id, graph_rules=rules, graph_supported=True,
                            notes=["on-premises mailbox: rules read through EWS (hidden rules are not listed there)"])


class UnavailableAccess:
    """An on-premises mailbox that cannot be reached: every operation raises :class:`OnPremUnavailable`."""

    location: Location = "onprem"

    def __init__(self, mailbox_id: str, reason: str) -> None:
        self.mailbox_id = mailbox_id
        self.reason = reason

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise OnPremUnavailable(self.reason)

    iter_messages = find_messages = folder_names = ensure_quarantine_folder = apply_action = restore = _fail
    inbox_rules = remove_inbox_rule = rules_inventory = _fail


class MailboxRouter:
    """Gives each mailbox its :class:`MailboxAccess` by where it lives (thread-safe, one per run)."""

    def __init__(self, graph: GraphClient | None, locations: Mapping[str, tuple[str, str]] | None = None,
                 ews: EwsSettings | None = None) -> None:
        """``locations``: mailbox object id -> (``cloud``/``onprem``, primary SMTP address)."""
        self.graph = graph
        self._locations = {k.lower(): v for k, v in (locations or {}).items()}
        self._ews_settings = ews
        self._ews: EwsConnection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_book(cls, graph: GraphClient | None, book: Any, ews: EwsSettings | None = None) -> MailboxRouter:
        """A router from an :class:`~mailwarden.directory.AddressBook` (its on-premises mailboxes)."""
        o = book.objects
        onprem = o[o["has_mailbox"].fillna(False).astype(bool) & o["mailbox_location"].eq("onprem")]
        return cls(graph, {str(oid): ("onprem", str(addr)) for oid, addr
                           in zip(onprem["object_id"], onprem["primary_address"], strict=True)}, ews)

    def location(self, mailbox_id: str) -> Location:
        """``onprem`` for an on-premises mailbox, else ``cloud``."""
        found = self._locations.get(mailbox_id.lower())
        return "onprem" if found and found[0] == "onprem" else "cloud"

    def side(self, mailbox_id: str) -> str:
        """The report label of a mailbox's side (``cloud`` / ``on-premises``)."""
        return SIDE_LABEL[self.location(mailbox_id)]

    def onprem_mailboxes(self) -> dict[str, tuple[str, str]]:
        """Mailbox id -> ("onprem", primary SMTP address) of every on-premises mailbox."""
        return {k: v for k, v in self._locations.items() if v[0] == "onprem"}

    def for_mailbox(self, mailbox_id: str) -> MailboxAccess:
        """The mailbox's access (an on-premises one without EWS settings fails on use, with the reason)."""
        found = self._locations.get(mailbox_id.lower())
        if not found or found[0] != "onprem":
            if self.graph is None:
                raise ValueError("this router has no Graph client (it only tells the sides apart)")
            return GraphAccess(self.graph, mailbox_id)
        with self._lock:
            if self._ews is None:
                if self._ews_settings is None:
                    return UnavailableAccess(mailbox_id, "mailbox is on-premises but the tenant has no "
                                             "on-premises EWS connection configured")
                try:
                    self._ews = connection_for(self._ews_settings)
                except OnPremUnavailable as exc:
                    return UnavailableAccess(mailbox_id, str(exc))
        return EwsAccess(self._ews, mailbox_id, found[1])


__all__ = ["SIDE_LABEL", "EwsAccess", "GraphAccess", "Location", "MailboxAccess", "MailboxRouter",
           "OnPremUnavailable", "UnavailableAccess"]
