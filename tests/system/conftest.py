"""Fixtures of the whole-system suite: the consent callback, app blocks with its redirect URI, a
webhook that records notifications, and what the sandbox hands out (tokens, reset passwords)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import consent_callback, save_app_blocks, save_webhook_block

from ._support import REPO

sys.path.insert(0, str(REPO / "tests" / "onboarding"))
from onboarding_webhook import WebhookReceiver


@pytest.fixture(scope="session")
def callback(embedded: Any, prefect_harness: None) -> Iterator[Any]:
    """The consent callback on a free port, registered as a redirect URI of both sandbox apps."""
    with consent_callback(embedded) as srv:
        yield srv


@pytest.fixture(scope="session")
def app_blocks(embedded: Any, callback: Any) -> dict[str, str]:
    """The two apps saved as M365App blocks whose redirect URI is the test's callback."""
    return save_app_blocks(embedded, callback, "sys")


@pytest.fixture(scope="session")
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def hook_block(hook: WebhookReceiver, prefect_harness: None) -> str:
    """A notification block that posts to :func:`hook`."""
    return save_webhook_block(hook.url, "sys")


@pytest.fixture
def issued(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Every access token the sandbox's token endpoint issues and every password its Graph sets,
    captured in-process from the sandbox's identity and directory modules (they keep only hashes)."""
    import m365sandbox.directory.models as directory
    import m365sandbox.identity.responses as identity

    seen: dict[str, list[str]] = {"tokens": [], "passwords": []}
    issue_token, hash_password = identity.issue_token, directory.hash_password

    def capture_token(*args: Any, **kw: Any) -> Any:
        response = issue_token(*args, **kw)
        if response.status_code == 200:
            seen["tokens"].append(json.loads(bytes(response.body))["access_token"])
        return response

    def capture_password(password: str) -> str:
        seen["passwords"].append(password)
        return hash_password(password)

    monkeypatch.setattr(identity, "issue_token", capture_token)
    monkeypatch.setattr(directory, "hash_password", capture_password)
    return seen
