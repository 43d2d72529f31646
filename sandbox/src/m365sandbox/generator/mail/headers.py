"""The Internet headers of a generated message, as Exchange Online records them: the relay hops,
``Authentication-Results`` (SPF, DKIM, DMARC, compauth), the organisation's own headers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from m365sandbox.generator.common import Json, rfc2822
from m365sandbox.generator.mail.context import MailContext

Hops = list[tuple[str, str]]


def _internal_relay(c: MailContext, nam: str, dom: str, t: datetime) -> tuple[Hops, str, Hops]:
    """(hops, Authentication-Results, organisation headers) of mail between two mailboxes."""
    rng = c.rng
    hops = [(
        "Received",
        f"from {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com "
        f"([fe80::{rng.getrandbits(16):x}]) by {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com "
        f"([fe80::{rng.getrandbits(16):x}%5]) with mapi id 15.20.{rng.randint(7000, 8999)}.{rng.randint(10, 60)};"
        f" {rfc2822(t)}",
    )]
    auth = f"dkim=none (message not signed) header.d=none;dmarc=none action=none header.from={dom};"
    org = [
        ("X-MS-Exchange-Organization-AuthAs", "Internal"),
        ("X-MS-Exchange-Organization-AuthSource", f"{nam}.namprd{rng.randint(10, 19)}.prod.outlook.com"),
        ("X-MS-Exchange-Organization-SCL", "-1"),
    ]
    return hops, auth, org


def _external_relay(c: MailContext, nam: str, dom: str, t: datetime, tenant_mx: str, *, spf: str, dkim: str,
                    dmarc: str) -> tuple[Hops, str, Hops]:
    """(hops, Authentication-Results, organisation headers) of mail from the Internet."""
    rng = c.rng
    ip = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(2, 250)}"
    mta = f"{rng.choice(('mail', 'smtp', 'mx-out', 'o1'))}.{dom}"
    edge = f"{tenant_mx.split('.')[0][:10].upper()}.mail.protection.outlook.com"
    hops = [
        (
            "Received",
            f"from {mta} ({ip}) by {edge} ({rng.choice(('10.167', '10.152'))}.{rng.randint(0, 255)}."
            f"{rng.randint(1, 254)}) with Microsoft SMTP Server (version=TLS1_3, cipher=TLS_AES_256_GCM_SHA384)"
            f" id 15.20.{rng.randint(7000, 8999)}.{rng.randint(10, 60)}; {rfc2822(t)}",
        ),
        (
            "Received",
            f"from {nam}.namprd{rng.randint(10, 19)}.prod.outlook.com by "
            f"{nam}.namprd{rng.randint(10, 19)}.prod.outlook.com with Microsoft SMTP Server; "
            f"{rfc2822(t + timedelta(seconds=1))}",
        ),
    ]
    dkim_txt = {
        "pass": f"dkim=pass (signature was verified) header.d={dom}",
        "fail": f"dkim=fail (body hash did not verify) header.d={dom}",
        "none": "dkim=none (message not signed) header.d=none",
    }[dkim]
    comp = "pass reason=100" if dmarc == "pass" else "fail reason=001"
    dmarc_action = "none" if dmarc == "pass" else "quarantine"
    auth = (
        f"spf={spf} (sender IP is {ip}) smtp.mailfrom={dom}; {dkim_txt};dmarc={dmarc} "
        f"action={dmarc_action} header.from={dom};compauth={comp}"
    )
    verdict = {"pass": "Pass", "fail": "Fail", "softfail": "SoftFail"}.get(spf, "None")
    spf_words = "designates" if spf == "pass" else "does not designate"
    org = [
        (
            "Received-SPF",
            f"{verdict} (protection.outlook.com: domain of {dom} {spf_words} {ip} as permitted "
            f"sender) receiver=protection.outlook.com; client-ip={ip}; helo={mta};",
        ),
        ("X-MS-Exchange-Organization-AuthAs", "Anonymous"),
        ("X-MS-Exchange-Organization-AuthSource", edge),
        ("X-MS-Exchange-Organization-SCL", "1" if dmarc == "pass" else "5"),
    ]
    return hops, auth, org


def message_headers(
    c: MailContext,
    *,
    internal: bool,
    frm: tuple[str, str],
    to: list[tuple[str, str]],
    subject: str,
    sent: datetime,
    imid: str,
    spf: str = "pass",
    dkim: str = "pass",
    dmarc: str = "pass",
    reply_to: tuple[str, str] | None = None,
    ctype: str = "multipart/alternative",
    extra: Sequence[tuple[str, str]] = (),
) -> list[Json]:
    """Graph ``internetMessageHeaders`` of a message as its recipient's mailbox holds it."""
    rng, dom = c.rng, frm[1].split("@")[-1]
    tenant_mx = f"{c.d.domain.replace('.', '-')}.mail.protection.outlook.com"
    nam = f"{rng.choice(('BN8', 'MN2', 'SA1', 'DM6', 'CH3'))}PR{rng.randint(10, 99)}MB{rng.randint(1000, 9999)}"
    t = sent + timedelta(seconds=rng.randint(1, 40))
    if internal:
        hops, auth, org = _internal_relay(c, nam, dom, t)
    else:
        hops, auth, org = _external_relay(c, nam, dom, t, tenant_mx, spf=spf, dkim=dkim, dmarc=dmarc)
    out = [
        *reversed(hops),
        ("Authentication-Results", auth),
        *org[:1],
        ("Return-Path", f"{frm[1] if internal else 'bounce-' + str(rng.randint(100, 999)) + '@' + dom}"),
        ("From", f'"{frm[0]}" <{frm[1]}>'),
        ("To", ", ".join(f'"{n}" <{a}>' for n, a in to) or "undisclosed-recipients:;"),
        ("Subject", subject),
        ("Date", rfc2822(sent)),
        ("Message-ID", imid),
    ]
    if reply_to:
        out.append(("Reply-To", f'"{reply_to[0]}" <{reply_to[1]}>'))
    out += [
        *extra,
        ("MIME-Version", "1.0"),
        ("Content-Type", f'{ctype}; boundary="_000_{rng.getrandbits(40):x}_"'),
        *org[1:],
    ]
    return [{"name": n, "value": v} for n, v in out]
