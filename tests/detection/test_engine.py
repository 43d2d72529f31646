# ruff: noqa: RUF001, RUF003
"""One test per message signal, plus the verdict categories they lead to."""

from __future__ import annotations

import base64
import hashlib

import pytest

from mailwarden.detection import Category, DetectionContext, IndicatorSet, classify

from ._factory import msg

AUTH_FAIL = [
    {
        "name": "Authentication-Results",
        "value": "spf=fail (sender IP is 192.0.2.1) smtp.mailfrom=evil.example; dkim=fail; "
        "dmarc=fail action=none header.from=contoso.com; compauth=fail reason=000",
    }
]
CTX = DetectionContext(
    tenant_domains=frozenset({"contoso.com"}),
    internal_addresses=frozenset({"dana@contoso.com", "ceo@contoso.com"}),
    internal_display_names={"Dana Scully": "dana@contoso.com", "Walter Skinner": "ceo@contoso.com"},
    executives=frozenset({"Walter Skinner"}),
)


def codes(message, ctx=None):
    return {r.code for r in classify(message, ctx).reasons}


def test_plain_conversation_is_clean_with_a_reason():
    v = classify(msg())
    assert v.category == Category.CLEAN
    assert v.reasons and v.reasons[0].code == "no_signals"


def test_external_sender_is_external_when_tenant_is_known():
    assert classify(msg(), CTX).category == Category.EXTERNAL
    assert classify(msg(sender="dana@contoso.com", name="Dana Scully"), CTX).category == Category.CLEAN


def test_auth_failures_are_read_from_authentication_results():
    c = codes(msg(headers=AUTH_FAIL))
    assert {"spf_fail", "dkim_fail", "dmarc_fail", "compauth_fail"} <= c


def test_received_spf_softfail_is_used_without_authentication_results():
    c = codes(
        msg(headers=[{"name": "Received-SPF", "value": "SoftFail (protection.outlook.com: domain ...)"}])
    )
    assert "spf_softfail" in c


def test_passing_auth_raises_nothing():
    ok = [{"name": "Authentication-Results", "value": "spf=pass; dkim=pass; dmarc=pass; compauth=pass"}]
    assert not codes(msg(headers=ok)) & {"spf_fail", "dkim_fail", "dmarc_fail", "compauth_fail"}


def test_garbage_authentication_results_is_an_unparseable_header_reason():
    assert "unparseable_header" in codes(msg(headers=[{"name": "Authentication-Results", "value": "%%%"}]))


def test_spoofed_internal_domain_with_failed_auth():
    c = codes(msg(sender="dana@contoso.com", name="Dana Scully", headers=AUTH_FAIL), CTX)
    assert "spoofed_internal_domain" in c


@pytest.mark.parametrize(
    "domain",
    [
        "rnicrosoft.com",
        "micros0ft.com",
        "paypa1.com",
        "micrsoft.com",
        "xn--pple-43d.com",
        "c0ntoso.com",
        "micro-soft.com",
    ],
)
def test_lookalike_sender_domains(domain):
    assert "lookalike_domain" in codes(msg(sender=f"support@{domain}"), CTX)


def test_real_brand_and_subdomain_are_not_lookalikes():
    assert "lookalike_domain" not in codes(msg(sender="no-reply@accounts.microsoft.com", name="Microsoft"))
    assert "lookalike_domain" not in codes(msg(sender="a@example.org"))


def test_brand_embedded_in_foreign_host():
    assert "brand_in_domain" in codes(msg(sender="a@microsoft.com.login-secure.example"))
    assert "brand_in_domain" in codes(msg(sender="a@paypal-secure.example"))


def test_display_name_impersonation_of_colleague_and_executive():
    assert "display_name_impersonation" in codes(
        msg(sender="dana.scully@gmail.com", name="Dana  Scully"), CTX
    )
    assert "executive_impersonation" in codes(msg(sender="ws@gmail.com", name="Walter Skinner"), CTX)
    assert "display_name_impersonation" not in codes(msg(sender="dana@contoso.com", name="Dana Scully"), CTX)


def test_brand_display_name_from_unrelated_domain():
    assert "brand_impersonation" in codes(msg(sender="x@mailer.example", name="Microsoft Account Team"))
    assert "brand_impersonation" not in codes(msg(sender="x@email.microsoft.com", name="Microsoft"))


def test_confusable_display_name_is_folded_and_flagged():
    c = codes(msg(sender="x@mailer.example", name="Міcrosoft"))  # Cyrillic М, і
    assert {"brand_impersonation", "obfuscated_text"} <= c


def test_display_name_showing_another_address():
    assert "display_name_address_mismatch" in codes(msg(sender="x@evil.example", name="support@paypal.com"))


def test_reply_to_mismatch_and_freemail():
    assert "reply_to_mismatch" in codes(msg(reply_to="a@elsewhere.example"))
    assert "reply_to_freemail" in codes(msg(reply_to="ceo.private@gmail.com"))
    assert not codes(msg(reply_to="bob@partner.example")) & {"reply_to_mismatch", "reply_to_freemail"}


def test_link_text_naming_another_domain():
    body = '<a href="https://evil.example/x">https://www.paypal.com/signin</a>'
    assert "link_text_mismatch" in codes(msg(body=body, html=True))
    same = '<a href="https://www.paypal.com/x">paypal.com</a>'
    assert "link_text_mismatch" not in codes(msg(body=same, html=True))


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://198.51.100.7/login", "ip_url"),
        ("https://bit.ly/abc", "url_shortener"),
        ("https://secure-update.xyz/a", "suspicious_tld"),
        ("https://x.web.app/a", "free_hosting_link"),
        ("http://paypal.com@evil.example/", "url_userinfo"),
        ("https://rnicrosoft.com/a", "lookalike_domain"),
    ],
)
def test_url_signals(url, code):
    assert code in codes(msg(body=f'<p>see <a href="{url}">here</a></p>', html=True))
    assert code in codes(msg(body=f"see {url} now"))


def test_ioc_url_sender_and_hash_make_the_verdict_malicious():
    data = b"evil payload"
    sha = hashlib.sha256(data).hexdigest()
    ctx = DetectionContext(
        iocs=IndicatorSet(
            urls=frozenset({"https://evil.example/drop"}),
            senders=frozenset({"bad@evil.example"}),
            sha256=frozenset({sha}),
        )
    )
    assert classify(msg(body="get https://evil.example/drop/"), ctx).category == Category.MALICIOUS
    assert "ioc_sender" in codes(msg(sender="BAD@evil.example"), ctx)
    att = [
        {
            "name": "a.pdf",
            "contentType": "application/pdf",
            "size": 12,
            "contentBytes": base64.b64encode(data).decode(),
        }
    ]
    v = classify(msg(attachments=att), ctx)
    assert v.category == Category.MALICIOUS and "ioc_attachment_hash" in v.codes


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("invoice.html", "html_attachment"),
        ("scan.iso", "dangerous_attachment"),
        ("a.lnk", "dangerous_attachment"),
        ("run.js", "dangerous_attachment"),
        ("note.one", "dangerous_attachment"),
        ("q.xlsm", "macro_attachment"),
        ("invoice.pdf.exe", "double_extension"),
    ],
)
def test_attachment_types(name, code):
    att = [{"name": name, "contentType": "application/octet-stream", "size": 10}]
    assert code in codes(msg(attachments=att))


def test_harmless_attachment_raises_nothing():
    att = [{"name": "report.pdf", "contentType": "application/pdf", "size": 10}]
    assert not codes(msg(attachments=att)) & {"dangerous_attachment", "macro_attachment", "html_attachment"}


def test_password_protected_archive_needs_the_password_in_text():
    att = [{"name": "docs.zip", "contentType": "application/zip", "size": 10}]
    assert "encrypted_archive" in codes(msg(body="Open the file. Password: 4711", attachments=att))
    assert "encrypted_archive" not in codes(msg(body="Here are the docs.", attachments=att))


def test_credential_harvest_wording_with_link():
    body = "Your password expires soon. Act immediately: verify your account at https://login.evil.example/"
    c = codes(msg(body=body))
    assert {"credential_harvest", "harvest_with_link", "urgency_language"} <= c


def test_html_tricks():
    body = (
        "<html><meta http-equiv='refresh' content='0;url=https://x.example'>"
        "<form action='https://x.example/p'><input type='password'></form><script>x()</script>"
        "<a href='data:text/html;base64,PGgxPg=='>open</a><span style='display:none'>hidden</span></html>"
    )
    assert {"meta_refresh", "html_form", "password_field", "script", "data_uri", "hidden_text"} <= codes(
        msg(body=body, html=True)
    )


def test_newsletter_is_graymail_not_a_threat():
    headers = [
        {"name": "List-Unsubscribe", "value": "<mailto:u@news.example>"},
        {"name": "Precedence", "value": "bulk"},
    ]
    v = classify(msg(sender="news@news.example", body="Our newsletter. Unsubscribe here.", headers=headers))
    assert v.category == Category.GRAYMAIL


def test_scam_wording_is_spam():
    v = classify(
        msg(subject="Congratulations, you have won", body="Claim your cash prize in the lottery now")
    )
    assert v.category == Category.SPAM


def test_classic_credential_phish_is_malicious():
    body = (
        "<p>We detected unusual sign-in activity. Verify your account within 24 hours or your account "
        "will be suspended.</p><a href='http://203.0.113.9/o365'>https://login.microsoftonline.com</a>"
    )
    v = classify(
        msg(
            subject="Action required",
            sender="security@rnicrosoft.com",
            name="Microsoft 365",
            body=body,
            html=True,
            headers=AUTH_FAIL,
        ),
        CTX,
    )
    assert v.category == Category.MALICIOUS
    assert all(r.detail for r in v.reasons)


def test_moderate_phish_is_suspicious():
    v = classify(
        msg(sender="x@mailer.example", name="DocuSign", body="shared a document with you https://x.example/d")
    )
    assert v.category == Category.SUSPICIOUS


def test_verdict_to_dict_is_json_shaped():
    d = classify(msg(reply_to="x@gmail.com")).to_dict()
    assert d["category"] == "clean" or isinstance(d["category"], str)
    assert {"code", "detail", "weight"} <= set(d["reasons"][0])


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "text",
        [],
        {"from": "x"},
        {"body": "str"},
        {"internetMessageHeaders": "nope"},
        {"attachments": {"a": 1}},
    ],
)
def test_wrong_types_never_raise_and_explain(bad):
    v = classify(bad)
    assert v.reasons
