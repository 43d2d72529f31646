"""tasks/notify.py: notification blocks by name, mail through Graph, and secret scrubbing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from onboarding.onboarding_webhook import WebhookReceiver
from tasks.notify import load_notification_block, notify, notify_by_mail, scrub

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJyb2xlcyI6WyJhIl19.c2lnbmF0dXJl"


def test_scrub_masks_tokens_secret_values_and_named_strings() -> None:
    text = f"token {JWT} Authorization: Bearer abc.def client_secret=s3cr3t password: hunter2 x=keep"
    out = scrub(text, extra=["keep"])
    for leaked in (JWT, "abc.def", "s3cr3t", "hunter2", "keep"):
        assert leaked not in out
    assert "client_secret=[redacted]" in out


class FakeGraph:
    def __init__(self) -> None:
        self.posts: list[tuple[str, Any]] = []

    def post(self, path: str, json: Any = None, *, headers: Any = None) -> None:
        self.posts.append((path, json))


def test_mail_goes_through_sendmail_of_the_sender_as_plain_text() -> None:
    g = FakeGraph()
    notify_by_mail(g, "admin@contoso.com", "ops@contoso.com", "Hello", f"Body {JWT}")
    path, body = g.posts[0]
    assert path == "/users/admin@contoso.com/sendMail"
    assert body["saveToSentItems"] is False
    msg = body["message"]
    assert msg["toRecipients"] == [{"emailAddress": {"address": "ops@contoso.com"}}]
    assert msg["body"]["contentType"] == "Text" and JWT not in msg["body"]["content"]


@pytest.mark.parametrize(("sender", "to"), [("nobody", "a@b.com"), ("a@b.com", []), ("a@b.com", ["x"])])
def test_mail_refuses_bad_addresses_before_any_call(sender: str, to: Any) -> None:
    g = FakeGraph()
    with pytest.raises(ValueError):
        notify_by_mail(g, sender, to, "s", "b")
    assert g.posts == []


def test_no_target_means_no_notification() -> None:
    assert notify(None, "s", "b") is False


def test_notify_posts_through_a_saved_custom_webhook_block(prefect_harness: None) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"hook-{uuid.uuid4().hex[:8]}"
    with WebhookReceiver() as hook:
        CustomWebhookNotificationBlock(
            name="mailwarden", url=hook.url, json_data={"subject": "{{subject}}", "text": "{{body}}"}
        ).save(name)
        assert notify(name, "Connected", f"all good {JWT}") is True
        assert hook.event.wait(5)
    assert hook.received == [{"subject": "Connected", "text": "all good [redacted-token]"}]
    assert isinstance(load_notification_block(f"custom-webhook/{name}"), CustomWebhookNotificationBlock)


def test_unknown_notification_block_is_a_clear_error(prefect_harness: None) -> None:
    with pytest.raises(ValueError, match="no notification block named 'nope-"):
        notify(f"nope-{uuid.uuid4().hex[:6]}", "s", "b")
