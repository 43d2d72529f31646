"""A fake mailbox (the :class:`~mailwarden.mailbox.access.MailboxAccess` protocol) and messages, for the
scan and response cores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mailwarden.mailbox import ActionOutcome, MessageQuery, apply_message_action, matches
from mailwarden.mailbox.ews import OnPremUnavailable


class FakeMailbox:
    """A :class:`~mailwarden.mailbox.access.MailboxAccess` over a list of Graph-shaped messages.

    Actions go through the real audit log (``apply_message_action`` with a fake act); ``fail``
    makes reading raise that exception after ``fail_after`` messages; ``unreachable`` makes acting
    raise :class:`OnPremUnavailable`, as an on-premises server refusing the credentials does.
    """

    def __init__(self, mailbox_id: str, messages: list[dict[str, Any]], *, location: str = "cloud",
                 fail: Exception | None = None, fail_after: int = 0, unreachable: bool = False) -> None:
        self.mailbox_id, self.location = mailbox_id, location
        self.messages, self.fail, self.fail_after, self.unreachable = messages, fail, fail_after, unreachable
        self.reads = 0
        self.acted: list[tuple[str, str]] = []

    def iter_messages(self, *, since: datetime | None = None, folder: str | None = None,
                      page_size: int = 250) -> Iterator[dict[str, Any]]:
        self.reads += 1
        for i, m in enumerate(self.messages):
            if self.fail is not None and i >= self.fail_after:
                raise self.fail
            yield m
        if self.fail is not None and len(self.messages) <= self.fail_after:
            raise self.fail

    def find_messages(self, query: MessageQuery) -> list[dict[str, Any]]:
        if self.fail is not None:
            raise self.fail
        return [m for m in self.messages if matches(m, query)]

    def folder_names(self) -> dict[str, str]:
        return {"inbox-id": "Inbox", "projects-id": "Inbox/Projects"}

    def apply_action(self, session: Any, **kw: Any) -> ActionOutcome:
        if self.unreachable:
            raise OnPremUnavailable("the on-premises server refused the credentials")

        def act(message_id: str, imid: str | None, action: str, retry: bool) -> tuple[str, str | None, str]:
            self.acted.append((message_id, action))
            return "done", f"new-{message_id}", f"{action} done"

        return apply_message_action(None, session, mailbox_id=self.mailbox_id, act=act, **kw)  # type: ignore[arg-type]


def message(n: int, *, phishing: bool = False, folder: str = "inbox-id") -> dict[str, Any]:
    """A Graph-shaped message; ``phishing``: an unauthenticated credential lure from a look-alike domain."""
    if phishing:
        body = ('<p>Your mailbox password expires today. Verify your account now or lose access:</p>'
                '<a href="http://micros0ft-login.example-verify.xyz/login?user=ann">Verify now</a>')
        sender, subject = "security@micros0ft-support.xyz", "URGENT: password expires today - verify now"
        auth = "spf=fail smtp.mailfrom=micros0ft-support.xyz; dkim=none; dmarc=fail header.from=micros0ft-support.xyz"
    else:
        body, sender, subject = "<p>Minutes of Tuesday's meeting attached.</p>", "bob@contoso.com", f"Minutes {n}"
        auth = "spf=pass smtp.mailfrom=contoso.com; dkim=pass header.d=contoso.com; dmarc=pass"
    return {"id": f"m{n}", "internetMessageId": f"<m{n}@x>", "parentFolderId": folder,
            "receivedDateTime": f"2024-01-{n % 28 + 1:02d}T10:00:00Z", "subject": subject, "isRead": n % 2 == 0,
            "from": {"emailAddress": {"address": sender}}, "sender": {"emailAddress": {"address": sender}},
            "toRecipients": [{"emailAddress": {"address": "ann@contoso.com"}}],
            "body": {"contentType": "html", "content": body}, "bodyPreview": body[:100],
            "internetMessageHeaders": [{"name": "Authentication-Results", "value": auth}],
            "hasAttachments": False, "attachments": []}
