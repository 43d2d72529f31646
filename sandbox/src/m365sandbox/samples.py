"""Ready-made new messages to deliver into a sandbox mailbox (demo, tests, benchmarks).

``phishing_message(to, n)``: a credential-harvesting lure impersonating Microsoft from a
look-alike domain that fails SPF/DKIM/DMARC, with a link to a raw-IP login page.
``benign_message(to, n)``: an ordinary note from a partner whose domain passes authentication.
Each call gets its own Internet message id (``n`` keeps them apart and reproducible).
"""

from __future__ import annotations

import uuid
from typing import Any

Json = dict[str, Any]


def _addr(address: str, name: str = "") -> Json:
    return {"emailAddress": {"name": name, "address": address}}


def _auth(domain: str, result: str) -> list[Json]:
    return [
        {"name": "Received", "value": f"from mail.{domain} (203.0.113.7) by mx.protection.outlook.com"},
        {"name": "Authentication-Results",
         "value": f"spf={result} smtp.mailfrom={domain}; dkim={result} header.d={domain}; "
                  f"dmarc={result} action=none header.from={domain}"},
    ]


def phishing_message(to: str, n: int = 0) -> Json:
    """A message the detection engine calls malicious."""
    domain = "micros0ft-secure-login.top"
    sender = f"security@{domain}"
    link = "http://198.51.100.23/owa/login.php?session=expired"
    html = (f"<html><body><p>Dear user,</p><p>Your password expires today. Verify your account "
            f"immediately or your mailbox will be suspended within 24 hours.</p>"
            f"<p><a href=\"{link}\">https://login.microsoft.com/verify</a></p>"
            f"<p>Microsoft 365 Security Team</p></body></html>")
    return {
        "subject": f"Action required: your password expires today (ref {n})",
        "from": _addr(sender, "Microsoft 365 Security"), "sender": _addr(sender, "Microsoft 365 Security"),
        "replyTo": [_addr(f"verify-desk@{domain}")],
        "toRecipients": [_addr(to)],
        "body": {"contentType": "html", "content": html},
        "internetMessageId": f"<{uuid.uuid4().hex}.{n}@{domain}>",
        "internetMessageHeaders": _auth(domain, "fail"),
    }


def benign_message(to: str, n: int = 0) -> Json:
    """A message the detection engine calls clean."""
    domain = "partner.example"
    sender = f"dana.lee@{domain}"
    return {
        "subject": f"Notes from Thursday's planning meeting ({n})",
        "from": _addr(sender, "Dana Lee"), "sender": _addr(sender, "Dana Lee"),
        "toRecipients": [_addr(to)],
        "body": {"contentType": "text", "content": "Hi, attached are the notes we discussed. "
                 "The next meeting is on Monday at ten. Best, Dana"},
        "internetMessageId": f"<{uuid.uuid4().hex}.{n}@{domain}>",
        "internetMessageHeaders": _auth(domain, "pass"),
    }
