"""Individual message signals. Each ``check_*`` appends ``(code, detail, multiplier)`` hits.

Signals never raise on odd input: callers pass already-sanitised strings and lists.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import re
import unicodedata
from typing import Any

from .content import BodyFacts, text_domain, url_has_userinfo
from .domains import (
    _CONFUSABLES,
    _INVISIBLE,
    decode_host,
    embedded_brand,
    has_mixed_script,
    is_within,
    lookalike_of,
    registrable,
)
from .model import DetectionContext
from .policy import DetectionPolicy

Hit = tuple[str, str, float]

_AUTH = re.compile(r"(?<![\w.-])(spf|dkim|dmarc|compauth)\s*=\s*([a-z]+)", re.IGNORECASE)
_RECEIVED_SPF = re.compile(r"^\s*(pass|fail|softfail|neutral|none|temperror|permerror)\b", re.IGNORECASE)
_EMAIL_IN_TEXT = re.compile(r"(?:[\w.+-]+@)?((?:[a-z0-9-]+\.)+(?:com|net|org|[a-z]{2}))(?![a-z0-9-])")
# Machine-made local parts: long mixed-case runs (HauBQDrzH), or words glued to long digit runs.
_RANDOM_LOCAL = re.compile(
    r"^(?=[a-z0-9]*[A-Z][a-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z][A-Z])[A-Za-z0-9]{7,}$"
    r"|[a-zA-Z]_?\d{5,}$|^\d{3,}[a-z]{6,}"
)
_RANDOM_LABEL = re.compile(r"^(?=(?:[a-z]*\d){3})(?=(?:\d*[a-z]){3})[a-z0-9]{8,}$")
_LEET = re.compile(r"[A-Z]{2,}[01][A-Z]{2,}")
_ARCHIVE_PASSWORD = re.compile(
    r"(?:password|passwort|senha|contrase[nñ]a|passcode|pwd?)\s*(?:is|:|=|-)\s*\S{3,}", re.IGNORECASE
)
_IMAGE_DATA = ("image/",)
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_STRIP_INVISIBLE = {ord(c): None for c in _INVISIBLE}


def fold(text: str) -> str:
    """Lower-case text with compatibility forms, Cyrillic/Greek look-alikes and invisible marks removed."""
    if text.isascii():
        return " ".join(text.lower().split())
    s = unicodedata.normalize("NFKC", text).lower().translate(_CONFUSABLES).translate(_STRIP_INVISIBLE)
    return " ".join(_COMBINING.sub("", unicodedata.normalize("NFKD", s)).split())


def _examples(items: list[str], n: int = 3) -> str:
    uniq = list(dict.fromkeys(items))
    more = f" (+{len(uniq) - n} more)" if len(uniq) > n else ""
    return ", ".join(x[:80] for x in uniq[:n]) + more


def check_auth(headers: dict[str, list[str]], hits: list[Hit]) -> dict[str, str]:
    """SPF/DKIM/DMARC/compauth failures from the topmost Authentication-Results (and Received-SPF)."""
    results: dict[str, str] = {}
    ar = headers.get("authentication-results")
    if ar:
        for method, result in _AUTH.findall(ar[0][:4000]):
            results.setdefault(method.lower(), result.lower())
        if not results:
            hits.append(
                ("unparseable_header", "Authentication-Results carries no spf/dkim/dmarc result", 1.0)
            )
    if "spf" not in results and headers.get("received-spf"):
        m = _RECEIVED_SPF.match(headers["received-spf"][0])
        if m:
            results["spf"] = m.group(1).lower()
        else:
            hits.append(("unparseable_header", "Received-SPF has no recognisable result", 1.0))
    if results.get("dmarc") == "fail":
        hits.append(("dmarc_fail", "DMARC failed for the From domain", 1.0))
    spf = results.get("spf")
    if spf in ("fail", "permerror"):
        hits.append(("spf_fail", f"SPF {spf}: sending server not allowed by the envelope domain", 1.0))
    elif spf == "softfail":
        hits.append(("spf_softfail", "SPF softfail: sending server discouraged by the envelope domain", 1.0))
    if results.get("dkim") in ("fail", "permerror"):
        hits.append(("dkim_fail", "DKIM signature did not verify", 1.0))
    if results.get("compauth") == "fail":
        hits.append(("compauth_fail", "Microsoft composite authentication failed", 1.0))
    return results


def check_sender(
    name: str, domain: str, auth: dict[str, str], ctx: DetectionContext, pol: DetectionPolicy, hits: list[Hit]
) -> None:
    """Lookalike domains, display-name impersonation (people, brands) and spoofed internal domains."""
    protected = ctx.known_brand_domains | ctx.tenant_domains
    internal = bool(ctx.tenant_domains) and is_within(domain, ctx.tenant_domains)
    if domain and "." not in domain:
        hits.append(("malformed_sender", f"sender domain {domain[:60]!r} has no top-level domain", 1.0))
    elif domain:
        if is_within(domain, pol.c_hosting):
            hits.append(("sender_free_hosting", f"mail comes from a free hosting/app domain {domain}", 1.0))
        if internal and (auth.get("dmarc") == "fail" or auth.get("spf") in ("fail", "softfail")):
            hits.append(
                ("spoofed_internal_domain", f"mail claims to be from {domain} but fails authentication", 1.0)
            )
        look = lookalike_of(domain, protected)
        if look:
            hits.append(
                (
                    "lookalike_domain",
                    f"sender domain {decode_host(domain)} imitates {look[0]} ({look[1]})",
                    1.0,
                )
            )
        else:
            emb = embedded_brand(domain, protected)
            if emb:
                hits.append(("brand_in_domain", f"sender domain {domain} embeds {emb}", 1.0))
        if "xn--" in domain:
            hits.append(("punycode_domain", f"sender domain is punycode ({decode_host(domain)})", 1.0))
        tld = domain.rsplit(".", 1)[-1]
        if tld in pol.c_tlds:
            hits.append(("sender_suspicious_tld", f"sender domain uses the often-abused .{tld}", 1.0))
    if not name:
        return
    folded = fold(name)
    if has_mixed_script(name):
        hits.append(
            ("obfuscated_text", f"display name mixes scripts or hides characters: {name[:60]!r}", 1.0)
        )
    m = _EMAIL_IN_TEXT.search(folded)
    if m and domain and registrable(m.group(1)) != registrable(domain):
        shown = m.group(0)[:60]
        hits.append(  # a full address in the name is a stronger claim than a bare domain
            (
                "display_name_address_mismatch",
                f"display name shows {shown} but mail is from {domain}",
                1.0 if "@" in shown else 0.6,
            )
        )
    if _LEET.search(name):
        hits.append(("obfuscated_text", f"display name spells words with digits: {name[:60]!r}", 1.0))
    if not internal and ctx.internal_display_names:
        target = ctx.internal_display_names.get(folded)
        if target is not None and target != "":
            if folded in ctx.executives:
                hits.append(
                    (
                        "executive_impersonation",
                        f"external sender uses the name of executive {name[:60]!r}",
                        1.0,
                    )
                )
            else:
                hits.append(
                    (
                        "display_name_impersonation",
                        f"external sender uses the name of colleague {name[:60]!r}",
                        1.0,
                    )
                )
    if pol.c_brand_re is not None and not internal:
        bm = pol.c_brand_re.search(folded)
        if bm:
            brand = bm.group(1)
            legit = pol.c_brands.get(brand, frozenset())
            token = brand.replace(" ", "")
            label = registrable(domain).split(".")[0] if domain else ""
            if not ("." in domain and (is_within(domain, legit) or token in label.replace("-", ""))):
                hits.append(
                    (
                        "brand_impersonation",
                        f"display name says {brand!r} but mail is from {domain or 'no address'}",
                        1.0,
                    )
                )


def check_random_sender(address: str, domain: str, hits: list[Hit]) -> None:
    """Machine-generated sender addresses (random mixed case, long digit runs, random labels)."""
    local = address.rpartition("@")[0]
    labels = domain.split(".")[:-1]
    if _RANDOM_LOCAL.search(local) or any(_RANDOM_LABEL.match(x) for x in labels):
        hits.append(("random_sender_address", f"sender address looks machine-generated: {address[:60]}", 1.0))


def check_subject(subject: str, hits: list[Hit]) -> None:
    """Subjects that hide words from filters (mixed scripts, invisible marks, digits for letters)."""
    if has_mixed_script(subject) or _LEET.search(subject):
        hits.append(("obfuscated_text", f"subject disguises its words: {subject[:60]!r}", 1.0))


def check_reply_to(from_domain: str, reply_domains: list[str], pol: DetectionPolicy, hits: list[Hit]) -> None:
    """Reply-To pointing at another domain than From, worst when it is a freemail box."""
    if not from_domain:
        return
    reg = registrable(from_domain)
    for rd in reply_domains:
        if registrable(rd) == reg:
            continue
        if rd in pol.c_freemail:
            hits.append(
                ("reply_to_freemail", f"replies go to freemail {rd}, mail is from {from_domain}", 1.0)
            )
        else:
            hits.append(("reply_to_mismatch", f"replies go to {rd}, mail is from {from_domain}", 1.0))
        return


def _is_ip(host: str) -> bool:
    if not (host[-1:].isdigit() or ":" in host or host.startswith("[")):
        return False
    h = host.strip("[]")
    try:
        ipaddress.ip_address(h)
    except ValueError:
        return bool(re.fullmatch(r"0x[0-9a-f]+|\d{8,10}", h))
    return True


def check_links(facts: BodyFacts, ctx: DetectionContext, pol: DetectionPolicy, hits: list[Hit]) -> int:
    """URL signals; returns how many web links the body holds."""
    found: dict[str, list[str]] = {}
    protected = ctx.known_brand_domains | ctx.tenant_domains
    iocs = ctx.iocs
    web = 0
    for link in facts.links:
        host = link.host
        if not host:
            continue
        web += 1
        if _is_ip(host):
            found.setdefault("ip_url", []).append(host)
            continue
        reg = registrable(host)
        if host in pol.c_shorteners or reg in pol.c_shorteners:
            found.setdefault("url_shortener", []).append(host)
        tld = host.rsplit(".", 1)[-1]
        if tld in pol.c_tlds:
            found.setdefault("suspicious_tld", []).append(host)
        if is_within(host, pol.c_hosting):
            found.setdefault("free_hosting_link", []).append(host)
        if url_has_userinfo(link.url):
            found.setdefault("url_userinfo", []).append(link.url[:80])
        look = lookalike_of(host, protected)
        if look:
            found.setdefault("lookalike_domain", []).append(f"link {decode_host(host)} imitates {look[0]}")
        else:
            emb = embedded_brand(host, protected)
            if emb:
                found.setdefault("brand_in_domain", []).append(f"link {host} embeds {emb}")
        if link.text:
            shown = text_domain(link.text)
            if shown and registrable(shown) != reg and not is_within(host, frozenset({shown})):
                found.setdefault("link_text_mismatch", []).append(f"text {shown} -> {host}")
        if iocs:
            u = link.url.strip().lower().rstrip("/")
            if u in iocs.urls:
                found.setdefault("ioc_url", []).append(link.url[:80])
            elif is_within(host, iocs.domains):
                found.setdefault("ioc_domain", []).append(host)
    labels = {
        "ip_url": "links to a raw IP address",
        "url_shortener": "links through a URL shortener",
        "suspicious_tld": "links to often-abused TLDs",
        "free_hosting_link": "links to free/cloud hosting",
        "url_userinfo": "URL hides its host behind user@",
        "lookalike_domain": "look-alike link domain",
        "brand_in_domain": "link domain embeds a brand",
        "link_text_mismatch": "link text names another domain",
        "ioc_url": "link is on the IOC list",
        "ioc_domain": "link domain is on the IOC list",
    }
    for code, items in found.items():
        hits.append((code, f"{labels[code]}: {_examples(items)}", 1.0))
    return web


def _ext(name: str) -> tuple[str, str]:
    parts = name.lower().strip().rstrip(". ").rsplit(".", 2)
    last = parts[-1] if len(parts) > 1 else ""
    prev = parts[-2] if len(parts) > 2 else ""
    return last, prev


def check_attachments(
    attachments: list[dict[str, Any]], text: str, ctx: DetectionContext, pol: DetectionPolicy, hits: list[Hit]
) -> None:
    """Dangerous, macro, double-extension and password-protected-archive attachments; hash IOCs."""
    dangerous, html_att, macro, double, archives, bad_hash = [], [], [], [], [], []
    for att in attachments[:100]:
        name = att.get("name")
        name = name if isinstance(name, str) else ""
        last, prev = _ext(name)
        ctype = att.get("contentType")
        ctype = ctype.lower() if isinstance(ctype, str) else ""
        if last in pol.c_html_ext or (not last and ctype == "text/html"):
            html_att.append(name or ctype)
        elif last in pol.c_dangerous:
            dangerous.append(name)
        elif last in pol.c_macro:
            macro.append(name)
        elif last in pol.c_archive:
            archives.append(name)
        if (
            prev
            and len(prev) <= 5
            and prev in {"pdf", "doc", "docx", "xls", "xlsx", "jpg", "png", "txt"}
            and (last in pol.c_dangerous or last in pol.c_archive)
        ):
            double.append(name)
        if ctx.iocs.sha256:
            raw = att.get("contentBytes")
            if isinstance(raw, str) and len(raw) <= pol.max_attachment_bytes_hashed * 4 // 3 + 4:
                try:
                    digest = hashlib.sha256(base64.b64decode(raw, validate=False)).hexdigest()
                except (binascii.Error, ValueError):
                    hits.append(
                        ("unparseable_header", f"attachment {name[:60]!r} has undecodable content", 1.0)
                    )
                    continue
                if digest in ctx.iocs.sha256:
                    bad_hash.append(f"{name[:40]} ({digest[:12]}...)")
    if html_att:
        hits.append(
            ("html_attachment", f"HTML attachment (credential pages, smuggling): {_examples(html_att)}", 1.0)
        )
    if dangerous:
        hits.append(
            ("dangerous_attachment", f"executable/script/disk-image attachment: {_examples(dangerous)}", 1.0)
        )
    if macro:
        hits.append(("macro_attachment", f"macro-enabled Office attachment: {_examples(macro)}", 1.0))
    if double:
        hits.append(
            ("double_extension", f"attachment hides its type behind two extensions: {_examples(double)}", 1.0)
        )
    if archives and _ARCHIVE_PASSWORD.search(text):
        hits.append(
            ("encrypted_archive", f"archive with a password given in the mail: {_examples(archives)}", 1.0)
        )
    if bad_hash:
        hits.append(("ioc_attachment_hash", f"attachment hash on the IOC list: {_examples(bad_hash)}", 1.0))


def check_language(
    text: str, web_links: int, facts: BodyFacts, pol: DetectionPolicy, hits: list[Hit]
) -> None:
    """Credential-harvest, urgency, scam/spam and marketing wording."""
    found: dict[str, list[str]] = {}
    if pol.c_wording is not None:
        for m in pol.c_wording.finditer(text):
            bucket = found.setdefault(m.lastgroup or "", [])
            if len(bucket) < 8:
                bucket.append(m.group(0).strip())
    harvest = list(dict.fromkeys(found.get("harvest", ())))
    if harvest:
        hits.append(
            (
                "credential_harvest",
                f"credential-harvest wording: {_examples(harvest)}",
                float(min(len(harvest), 2)),
            )
        )
        if web_links or facts.forms:
            hits.append(("harvest_with_link", "harvest wording together with a link or form", 1.0))
    if "urgency" in found:
        hits.append(("urgency_language", f"urgency/pressure wording: {_examples(found['urgency'])}", 1.0))
    spam = list(dict.fromkeys(found.get("spam", ())))
    if spam:
        hits.append(("spam_language", f"scam/spam wording: {_examples(spam)}", float(min(len(spam), 3))))
    marketing = list(dict.fromkeys(found.get("marketing", ())))
    if marketing:
        hits.append(
            (
                "marketing_language",
                f"marketing wording: {_examples(marketing)}",
                float(min(len(marketing), 2)),
            )
        )


def check_html(facts: BodyFacts, hits: list[Hit]) -> None:
    """Forms, password fields, scripts, meta refresh, non-image data URIs, hidden text."""
    if facts.password_fields:
        hits.append(("password_field", "HTML body contains a password input", 1.0))
    if facts.forms:
        hits.append(("html_form", f"HTML body contains {facts.forms} form(s)", 1.0))
    if facts.scripts:
        hits.append(("script", "HTML body contains script or event-handler code", 1.0))
    if facts.meta_refresh:
        hits.append(("meta_refresh", "HTML body redirects with meta refresh", 1.0))
    odd = [d for d in facts.data_uris if not d.startswith(_IMAGE_DATA)]
    if odd:
        hits.append(("data_uri", f"embedded base64 data URI of type {_examples(odd)}", 1.0))
    if facts.images and facts.links and len(facts.text) < 200:
        hits.append(("image_only_body", "body is images and links with almost no text", 1.0))
    if facts.hidden:
        hits.append(("hidden_text", "HTML body hides content (display:none / zero font)", 1.0))


def check_bulk(headers: dict[str, list[str]], hits: list[Hit]) -> None:
    """Newsletter and mailing-list headers."""
    if headers.get("list-unsubscribe"):
        hits.append(("list_unsubscribe", "List-Unsubscribe header (bulk sender)", 1.0))
    prec = (headers.get("precedence") or [""])[0].strip().lower()
    if prec in ("bulk", "junk", "list"):
        hits.append(("bulk_precedence", f"Precedence: {prec}", 1.0))
    if headers.get("list-id") or headers.get("list-post"):
        hits.append(("mailing_list", "mailing-list headers (List-Id/List-Post)", 1.0))
