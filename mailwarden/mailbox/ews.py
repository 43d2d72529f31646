"""On-premises mailboxes (Exchange hybrid) through Exchange Web Services, with ``exchangelib``.

:class:`EwsAccess` answers what :class:`~mailwarden.mailbox.access.GraphAccess` answers, in the
same shapes: messages come back as Graph ``message`` dicts (``id``, ``internetMessageId``,
``parentFolderId``, ``receivedDateTime``, ``subject``, ``from``, ``sender``, ``replyTo``,
``toRecipients``, ``body``, ``bodyPreview``, ``internetMessageHeaders``, ``isRead``,
``hasAttachments``, ``attachments``) so detection, search and audit code stay the same; rules come
back as Graph ``messageRule`` dicts.

The connection signs in with a service account holding the ApplicationImpersonation role and
impersonates each mailbox. Autodiscover and version probing are skipped (the endpoint and an
Exchange 2016 build are configured). TLS trust is per host (:class:`TrustAdapter`): an internal CA
can be trusted without turning verification off anywhere else; a CA given as PEM text is written
to an owner-only file under the data directory, named by its hash and checked before each use
(:func:`ca_file_for`).

Errors: a refused sign-in or an unreachable server raises :class:`OnPremUnavailable` with a clear
reason (never the password); a mailbox the server does not host raises ``NotFound``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from pydantic import SecretStr

from mailwarden.graph import NotFound

QUARANTINE_FOLDER = "mailwarden Quarantine"
MESSAGE_FIELDS = ("parent_folder_id", "message_id", "datetime_received", "datetime_sent", "subject", "author",
                  "sender", "reply_to", "to_recipients", "cc_recipients", "bcc_recipients", "body", "headers",
                  "is_read", "has_attachments", "attachments")
"""What a scan reads of each message (exchangelib field names)."""
FIND_FIELDS = ("parent_folder_id", "message_id", "datetime_received", "subject", "author", "sender",
               "to_recipients", "is_read", "has_attachments")
"""Cheap fields (no body, headers or attachments: FindItem returns them in one round trip)."""


class OnPremUnavailable(Exception):
    """The on-premises server cannot be used: refused sign-in, unreachable, TLS failure, not configured."""


@dataclass(frozen=True)
class EwsSettings:
    """Where and how to reach the on-premises EWS endpoint."""

    url: str
    username: str
    password: SecretStr = field(repr=False)
    auth_type: str = "ntlm"
    verify_tls: bool = True
    ca_pem: str | None = None
    ca_file: str | None = None

    def trust(self) -> str | bool:
        """``verify`` for requests: a CA file, True (system trust) or False.

        ``ca_pem`` is written to an owner-only file under the data directory (:func:`ca_file_for`).
        """
        if not self.verify_tls:
            return False
        if self.ca_pem:
            return str(ca_file_for(self.ca_pem))
        return self.ca_file or True


CA_DIR_NAME = "ca"
"""Folder of ``data_dir`` holding CA files written from configuration (mode 0700, files 0600)."""
_CA_LOCK = threading.Lock()


def _private_dir(path: Path) -> Path:
    """``path`` as an existing directory of ours that no one else can enter (created 0700).

    A symlink, another owner's directory or a non-directory there is refused, not used.
    """
    missing = []
    cur = path
    while not cur.exists() and not cur.is_symlink():
        missing.append(cur)
        cur = cur.parent
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:
            pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise OnPremUnavailable("the CA folder under the data directory is not a private directory of this "
                                "user (a symlink or another owner's): refusing to use it")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)
    return path


def _holds(path: Path, content: bytes) -> bool:
    """Whether ``path`` is our own regular, owner-only file (not a symlink) holding exactly ``content``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
            return False
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(len(content) + 1) == content
    finally:
        os.close(fd)


def ca_file_for(ca_pem: str) -> Path:
    """An owner-only file holding ``ca_pem``, for ``verify``: ``<data_dir>/ca/ews-ca-<sha256>.pem``.

    The file is written atomically (a private temporary file in the same folder, then
    ``os.replace``) and checked before each use: a file planted there with other content, with
    loose permissions or as a symlink is replaced, never trusted.
    """
    from mailwarden.settings import get_settings

    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise OnPremUnavailable("the tenant's EWS CA is not a PEM certificate (-----BEGIN CERTIFICATE-----)")
    content = ca_pem.encode()
    folder = _private_dir(Path(get_settings().data_dir).absolute() / CA_DIR_NAME)
    path = folder / f"ews-ca-{hashlib.sha256(content).hexdigest()}.pem"
    with _CA_LOCK:
        if not _holds(path, content):
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".ews-ca-", suffix=".tmp")  # 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)  # replaces a planted symlink itself, never its target
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            if not _holds(path, content):
                raise OnPremUnavailable("the EWS CA file under the data directory could not be written safely")
    return path


class TrustAdapter(requests.adapters.HTTPAdapter):
    """exchangelib's HTTP adapter: TLS verification per ``host:port`` (an EWS host's own CA)."""

    trust: ClassVar[dict[str, str | bool]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def register(cls, url: str, verify: str | bool) -> None:
        with cls._lock:
            cls.trust[urlsplit(url).netloc.lower()] = verify

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        verify = self.trust.get(urlsplit(str(request.url)).netloc.lower())
        if verify is not None:
            kwargs["verify"] = verify
        return super().send(request, *args, **kwargs)


def _install_adapter() -> None:
    from exchangelib.protocol import BaseProtocol

    if not (isinstance(BaseProtocol.HTTP_ADAPTER_CLS, type) and issubclass(BaseProtocol.HTTP_ADAPTER_CLS,
                                                                              TrustAdapter)):
        BaseProtocol.HTTP_ADAPTER_CLS = TrustAdapter


def _reason(exc: BaseException, url: str) -> OnPremUnavailable | None:
    from exchangelib.errors import (
        ErrorTimeoutExpired,
        ResponseMessageError,
        SOAPError,
        TransportError,
        UnauthorizedError,
    )

    host = urlsplit(url).netloc
    if isinstance(exc, UnauthorizedError):
        return OnPremUnavailable(f"on-premises EWS at {host} refused the credentials (HTTP 401): check the "
                                 "tenant's EWS user and password")
    if isinstance(exc, requests.exceptions.SSLError):
        return OnPremUnavailable(f"on-premises EWS at {host}: TLS certificate not trusted (set the EWS CA)")
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, ErrorTimeoutExpired) and isinstance(cause, requests.exceptions.RequestException):
        exc = cause  # exchangelib re-raises a failed connection as a timeout
    elif isinstance(exc, ResponseMessageError | SOAPError):
        return None  # an answer from the server about one request, not a connection problem
    if isinstance(exc, TransportError | requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return OnPremUnavailable(f"on-premises EWS at {host} is unreachable ({type(exc).__name__})")
    return None


class EwsConnection:
    """One tenant's on-premises EWS endpoint; hands out per-mailbox accounts (thread-safe)."""

    def __init__(self, settings: EwsSettings, *, max_connections: int = 4) -> None:
        from exchangelib import BASIC, NTLM, Configuration, Credentials, Version
        from exchangelib.version import EXCHANGE_2016

        if not settings.url or not settings.username:
            raise OnPremUnavailable("the tenant has no on-premises EWS URL and user configured")
        _install_adapter()
        TrustAdapter.register(settings.url, settings.trust())
        self.settings = settings
        self._config = Configuration(
            service_endpoint=settings.url,
            credentials=Credentials(settings.username, settings.password.get_secret_value()),
            auth_type=BASIC if settings.auth_type == "basic" else NTLM,
            version=Version(build=EXCHANGE_2016), max_connections=max_connections)
        self._accounts: dict[str, Any] = {}
        self._lock = threading.Lock()

    def account(self, smtp: str) -> Any:
        """The exchangelib ``Account`` impersonating ``smtp`` (no request is made here)."""
        from exchangelib import IMPERSONATION, Account

        key = smtp.lower()
        with self._lock:
            acc = self._accounts.get(key)
            if acc is None:
                acc = self._accounts[key] = Account(primary_smtp_address=smtp, config=self._config,
                                                    autodiscover=False, access_type=IMPERSONATION)
            return acc

    def call(self, fn: Callable[[], Any], mailbox: str) -> Any:
        """Run ``fn`` translating exchangelib's failures into :class:`OnPremUnavailable` / ``NotFound``."""
        from exchangelib.errors import ErrorNonExistentMailbox

        try:
            return fn()
        except ErrorNonExistentMailbox as exc:
            raise NotFound(404, "ErrorNonExistentMailbox", f"no on-premises mailbox {mailbox}") from exc
        except Exception as exc:
            mapped = _reason(exc, self.settings.url)
            if mapped is not None:
                raise mapped from None
            raise

    def close(self) -> None:
        """Forget the impersonated accounts and close exchangelib's cached protocol (its sessions and
        the credentials it holds) for this endpoint and user."""
        from exchangelib.protocol import CachingProtocol, Protocol

        with self._lock:
            self._accounts.clear()
        with CachingProtocol._protocol_cache_lock:
            entry = CachingProtocol._protocol_cache.pop(Protocol._cache_key(self._config), None)
        protocol = entry[0] if entry else None
        if protocol is not None and not isinstance(protocol, Exception):
            protocol.close()


_CONNECTIONS: dict[tuple[str, ...], EwsConnection] = {}
_CONNECTIONS_LOCK = threading.Lock()


def connection_for(settings: EwsSettings) -> EwsConnection:
    """This process's connection for ``settings`` (shared by the worker threads of a run)."""
    secret = hashlib.sha256(settings.password.get_secret_value().encode()).hexdigest()
    key = (settings.url, settings.username, secret, settings.auth_type, str(settings.verify_tls),
           settings.ca_pem or "", settings.ca_file or "")
    with _CONNECTIONS_LOCK:
        conn = _CONNECTIONS.get(key)
        if conn is None:
            conn = _CONNECTIONS[key] = EwsConnection(settings)
        return conn


def drop_connections(settings: EwsSettings) -> int:
    """Close and forget this process's connections to ``settings``' endpoint as its user, whatever
    password they were made with (offboarding); returns how many there were."""
    with _CONNECTIONS_LOCK:
        keys = [k for k in _CONNECTIONS if k[0] == settings.url and k[1] == settings.username]
        dropped = [_CONNECTIONS.pop(k) for k in keys]
    for conn in dropped:
        conn.close()
    return len(dropped)


# -- shapes ----------------------------------------------------------------------------------

def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return datetime.fromtimestamp(value.timestamp(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _address(mb: Any) -> dict[str, Any] | None:
    if mb is None or not getattr(mb, "email_address", None):
        return None
    return {"emailAddress": {"name": mb.name or mb.email_address, "address": mb.email_address}}


def _addresses(values: Any) -> list[dict[str, Any]]:
    return [a for a in (_address(v) for v in values or []) if a]


_TAGS = re.compile(r"<[^>]+>")


def message_dict(item: Any, *, attachment_content: bool = True) -> dict[str, Any]:
    """A Graph ``message`` dict of an exchangelib ``Message``."""
    from exchangelib import FileAttachment, HTMLBody

    body = item.body
    content = str(body) if body is not None else ""
    kind = "html" if isinstance(body, HTMLBody) else "text"
    preview = " ".join((_TAGS.sub(" ", content) if kind == "html" else content).split())[:255]
    out: dict[str, Any] = {
        "id": item.id, "changeKey": item.changekey,
        "internetMessageId": item.message_id,
        "parentFolderId": item.parent_folder_id.id if item.parent_folder_id else None,
        "receivedDateTime": _iso(item.datetime_received),
        "sentDateTime": _iso(getattr(item, "datetime_sent", None)), "subject": item.subject,
        "from": _address(item.author), "sender": _address(item.sender),
        "replyTo": _addresses(getattr(item, "reply_to", None)),
        "toRecipients": _addresses(item.to_recipients),
        "ccRecipients": _addresses(getattr(item, "cc_recipients", None)),
        "bccRecipients": _addresses(getattr(item, "bcc_recipients", None)),
        "body": {"contentType": kind, "content": content}, "bodyPreview": preview,
        "internetMessageHeaders": [{"name": h.name, "value": h.value} for h in getattr(item, "headers", None) or []],
        "isRead": bool(item.is_read), "hasAttachments": bool(item.has_attachments),
    }
    atts = []
    for a in getattr(item, "attachments", None) or []:
        if not isinstance(a, FileAttachment):
            continue
        att: dict[str, Any] = {"@odata.type": "#microsoft.graph.fileAttachment", "name": a.name,
                               "contentType": a.content_type, "size": a.size, "isInline": bool(a.is_inline)}
        if attachment_content:
            att["contentBytes"] = base64.b64encode(a.content or b"").decode()
        atts.append(att)
    out["attachments"] = atts
    return out


def _text_list(values: Any) -> list[str] | None:
    return [str(v) for v in values] if values else None


def _recips(values: Any) -> list[dict[str, Any]] | None:
    out = [{"emailAddress": {"name": a.name or a.email_address, "address": a.email_address}}
           for a in values or [] if getattr(a, "email_address", None)]
    return out or None


_PREDICATES = {"categories": "categories", "contains_body_strings": "bodyContains",
               "contains_header_strings": "headerContains", "contains_recipient_strings": "recipientContains",
               "contains_sender_strings": "senderContains",
               "contains_subject_or_body_strings": "bodyOrSubjectContains",
               "contains_subject_strings": "subjectContains"}
_PRED_FLAGS = {"has_attachments": "hasAttachments", "is_automatic_forward": "isAutomaticForward",
               "is_automatic_reply": "isAutomaticReply", "is_encrypted": "isEncrypted",
               "is_meeting_request": "isMeetingRequest", "is_signed": "isSigned", "not_sent_to_me": "notSentToMe",
               "sent_cc_me": "sentCcMe", "sent_only_to_me": "sentOnlyToMe", "sent_to_me": "sentToMe",
               "sent_to_or_cc_me": "sentToOrCcMe", "is_voicemail": "isVoicemail"}


def _predicates(p: Any) -> dict[str, Any] | None:
    if p is None:
        return None
    out: dict[str, Any] = {}
    for attr, key in _PREDICATES.items():
        if v := _text_list(getattr(p, attr, None)):
            out[key] = v
    for attr, key in (("from_addresses", "fromAddresses"), ("sent_to_addresses", "sentToAddresses")):
        if addrs := _recips(getattr(p, attr, None)):
            out[key] = addrs
    for attr, key in _PRED_FLAGS.items():
        if getattr(p, attr, None):
            out[key] = True
    if getattr(p, "importance", None):
        out["importance"] = str(p.importance).lower()
    return out or None


def _folder_of(action: Any) -> str | None:
    if action is None:
        return None
    ref = action.folder_id or action.distinguished_folder_id
    return str(ref.id) if ref is not None else None


def rule_dict(rule: Any) -> dict[str, Any]:
    """A Graph ``messageRule`` dict of an exchangelib ``Rule``."""
    a = rule.actions
    actions: dict[str, Any] = {}
    if a is not None:
        for attr, key in (("forward_to_recipients", "forwardTo"), ("redirect_to_recipients", "redirectTo"),
                          ("forward_as_attachment_to_recipients", "forwardAsAttachmentTo")):
            if v := _recips(getattr(a, attr, None)):
                actions[key] = v
        for attr, key in (("delete", "delete"), ("permanent_delete", "permanentDelete"),
                          ("mark_as_read", "markAsRead"), ("stop_processing_rules", "stopProcessingRules")):
            if getattr(a, attr, None):
                actions[key] = True
        for attr, key in (("move_to_folder", "moveToFolder"), ("copy_to_folder", "copyToFolder")):
            if fid := _folder_of(getattr(a, attr, None)):
                actions[key] = fid
        if a.assign_categories:
            actions["assignCategories"] = [str(c) for c in a.assign_categories]
    out: dict[str, Any] = {"id": rule.id, "displayName": rule.display_name, "sequence": rule.priority,
                           "isEnabled": bool(rule.is_enabled), "hasError": bool(rule.is_in_error),
                           "actions": actions}
    if c := _predicates(rule.conditions):
        out["conditions"] = c
    if e := _predicates(rule.exceptions):
        out["exceptions"] = e
    return out


# -- one mailbox -----------------------------------------------------------------------------

class EwsMailbox:
    """Reading and acting on one on-premises mailbox (the EWS half of :mod:`mailwarden.mailbox.access`)."""

    def __init__(self, connection: EwsConnection, mailbox_id: str, smtp: str) -> None:
        self.connection = connection
        self.mailbox_id = mailbox_id
        self.smtp = smtp
        self._folders: list[Any] | None = None

    def _call(self, fn: Callable[[], Any]) -> Any:
        return self.connection.call(fn, self.smtp)

    @property
    def account(self) -> Any:
        return self.connection.account(self.smtp)

    def folders(self, refresh: bool = False) -> list[Any]:
        """Every mail folder under the top of the information store (FindFolder, deep)."""
        if self._folders is None or refresh:
            def walk() -> list[Any]:
                root = self.account.msg_folder_root
                return [f for f in root.walk() if (f.folder_class or "IPF.Note").startswith("IPF.Note")]
            self._folders = self._call(walk)
        return self._folders

    def folder_names(self) -> dict[str, str]:
        """Folder id -> path of display names (``Inbox/Projects``)."""
        folders = self.folders()
        by_id = {f.id: f for f in folders}
        out: dict[str, str] = {}
        for f in folders:
            parts, cur = [f.name], f
            while cur.parent_folder_id is not None and cur.parent_folder_id.id in by_id:
                cur = by_id[cur.parent_folder_id.id]
                parts.append(cur.name)
            out[f.id] = "/".join(reversed(parts))
        return out

    def _folder(self, ref: str | None) -> list[Any]:
        folders = self.folders()
        if ref is None:
            return folders
        acc = self.account
        well_known = {"inbox": "inbox", "sentitems": "sent", "junkemail": "junk", "deleteditems": "trash",
                      "drafts": "drafts"}
        if ref.lower() in well_known:
            return [self._call(lambda: getattr(acc, well_known[ref.lower()]))]
        found = [f for f in folders if f.id == ref]
        if not found:
            raise NotFound(404, "ErrorFolderNotFound", f"no folder {ref} in {self.smtp}")
        return found

    def iter_messages(self, *, since: datetime | None = None, folder: str | None = None, page_size: int = 100,
                      fields: tuple[str, ...] = MESSAGE_FIELDS, internet_message_id: str | None = None,
                      attachment_content: bool = True) -> Iterator[dict[str, Any]]:
        """Messages of every mail folder (or one ``folder`` id / well-known name), as Graph dicts."""
        from exchangelib import EWSDateTime

        for f in self._folder(folder):
            qs = f.all()
            if since is not None:
                start = since if since.tzinfo else since.replace(tzinfo=UTC)
                qs = qs.filter(datetime_received__gte=EWSDateTime.from_datetime(start.astimezone(UTC)))
            if internet_message_id is not None:
                qs = qs.filter(message_id=internet_message_id)
            qs = qs.only(*fields).order_by("datetime_received")
            qs.page_size = max(1, min(page_size, 1000))
            items: Iterator[Any] = iter(qs)
            while True:
                item = self._call(functools.partial(next, items, None))
                if item is None:
                    break
                if not hasattr(item, "message_id"):
                    continue  # not a message (an error entry or another item class)
                yield self._call(functools.partial(message_dict, item, attachment_content=attachment_content))

    def ensure_quarantine_folder(self) -> Any:
        """The top-level quarantine folder, created when missing (CreateFolder)."""
        from exchangelib import Folder
        from exchangelib.errors import ErrorFolderExists

        acc = self.account
        for f in self.folders():
            if f.parent_folder_id is not None and f.name.strip().lower() == QUARANTINE_FOLDER.lower() \
                    and f.parent_folder_id.id == self._call(lambda: acc.msg_folder_root.id):
                return f
        try:
            made = Folder(parent=self._call(lambda: acc.msg_folder_root), name=QUARANTINE_FOLDER,
                          folder_class="IPF.Note")
            self._call(made.save)
            self._folders = None
            return made
        except ErrorFolderExists:
            for f in self.folders(refresh=True):
                if f.name.strip().lower() == QUARANTINE_FOLDER.lower():
                    return f
            raise

    def act(self, message_id: str, imid: str | None, action: str, retry: bool) -> tuple[str, str | None, str]:
        """Apply one action (the EWS counterpart of the Graph ``_act``): (result, new id, detail)."""
        from exchangelib.errors import ErrorItemNotFound
        from exchangelib.items import HARD_DELETE, SOFT_DELETE

        acc = self.account
        ids = [(message_id, None)]
        if action in ("hard_delete", "soft_delete"):
            kind = HARD_DELETE if action == "hard_delete" else SOFT_DELETE
            res = self._call(lambda: acc.bulk_delete(ids, delete_type=kind))
            if res and isinstance(res[0], ErrorItemNotFound):
                return ("already_done" if retry else "failed"), None, "message not found"
            if res and isinstance(res[0], Exception):
                return "failed", None, f"{type(res[0]).__name__}"
            return "done", None, ("permanently deleted" if action == "hard_delete"
                                  else "soft-deleted to Recoverable Items")
        if action == "quarantine":
            dest = self.ensure_quarantine_folder()
        elif action == "move_to_junk":
            dest = self._call(lambda: acc.junk)
        else:
            raise ValueError(f"unsupported action {action!r} for an on-premises mailbox")
        moved = self._call(lambda: acc.bulk_move(ids, to_folder=dest))
        if moved and isinstance(moved[0], ErrorItemNotFound):
            if retry and imid:
                for m in self.iter_messages(folder=dest.id, fields=("message_id",), internet_message_id=imid):
                    return "already_done", m["id"], f"found already in {dest.name}"
            return "failed", None, "message not found (moved or deleted meanwhile)"
        if moved and isinstance(moved[0], Exception):
            return "failed", None, f"{type(moved[0]).__name__}"
        new_id = moved[0][0] if moved and isinstance(moved[0], tuple) else None
        return "done", new_id, f"moved to {dest.name}"

    def move(self, message_id: str, folder_id: str) -> str | None:
        """Move one message to a folder by id (MoveItem): its new id; ``NotFound`` when it is gone."""
        from exchangelib.errors import ErrorItemNotFound

        dest = next((f for f in self.folders() if f.id == folder_id), None)
        if dest is None:
            raise NotFound(404, "ErrorFolderNotFound", f"no folder {folder_id} in {self.smtp}")
        acc = self.account
        moved = self._call(lambda: acc.bulk_move([(message_id, None)], to_folder=dest))
        if moved and isinstance(moved[0], ErrorItemNotFound):
            raise NotFound(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        if moved and isinstance(moved[0], Exception):
            raise moved[0]
        return str(moved[0][0]) if moved and isinstance(moved[0], tuple) else None

    def locate(self, internet_message_id: str | None, folder_id: str) -> str | None:
        """The id of the message with this Internet message id in a folder, or None."""
        if not internet_message_id:
            return None
        try:
            for m in self.iter_messages(folder=folder_id, fields=("message_id",),
                                        internet_message_id=internet_message_id):
                return str(m["id"])
        except NotFound:
            return None
        return None

    def inbox_rules(self) -> list[dict[str, Any]]:
        """The mailbox's inbox rules as Graph ``messageRule`` dicts (GetInboxRules)."""
        return [rule_dict(r) for r in self._call(lambda: self.account.rules)]

    def remove_inbox_rule(self, rule_id: str) -> bool:
        """Delete one rule (UpdateInboxRules DeleteRuleOperation); False when it was already gone."""
        from exchangelib.errors import ErrorInboxRulesValidationError
        from exchangelib.properties import Rule

        acc = self.account
        try:
            self._call(lambda: acc.delete_rule(Rule(account=acc, id=rule_id, display_name="", priority=1)))
        except ErrorInboxRulesValidationError:
            return False
        return True
