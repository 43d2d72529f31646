"""Fixtures shared by the flow tests: one Prefect test server, one sandbox tenant server."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mailwarden-data")
    os.environ["MAILWARDEN_DATA_DIR"] = str(path)
    os.environ["MAILWARDEN_STORE_URL"] = f"sqlite:///{path / 'store.sqlite'}"
    from mailwarden.settings import get_settings

    get_settings.cache_clear()
    return path


@contextlib.contextmanager
def _prefect_server(database_url: str | None = None) -> Iterator[None]:
    """A Prefect test server: on a temporary SQLite file, or on ``database_url`` (e.g. postgresql+asyncpg)."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    if database_url is None:
        with temporary_settings({PREFECT_SERVER_ANALYTICS_ENABLED: False}), prefect_test_harness(120):
            yield
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    with temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: database_url,
                             PREFECT_SERVER_ANALYTICS_ENABLED: False}):  # loopback only: no telemetry
        server = SubprocessASGIServer(port=port)
        server.start(timeout=120)  # migrates the database first
        try:
            with temporary_settings({PREFECT_API_URL: server.api_url}):
                try:
                    yield
                finally:
                    _drain_prefect_workers()
        finally:
            server.stop()


def _drain_prefect_workers() -> None:
    """Send the queued logs and events while their server still runs (as Prefect's own harness does).

    Left queued, they are drained at interpreter exit against a server that is gone, and the
    test process never exits.
    """
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=60)
    except RuntimeError:  # never started
        pass
    EventsWorker.drain_all(timeout=60)


@pytest.fixture(scope="session")
def prefect_server() -> Callable[..., contextlib.AbstractContextManager[None]]:
    """Start another Prefect server for a while: ``with prefect_server(database_url): ...``."""
    return _prefect_server


@pytest.fixture(scope="session")
def prefect_harness(session_data_dir: Path) -> Iterator[None]:
    """One Prefect test server (SQLite) for the whole session."""
    with _prefect_server():
        yield


@pytest.fixture(scope="session")
def embedded(session_data_dir: Path) -> Iterator[Any]:
    """The sandbox tenant server with mailwarden's apps registered, started once.

    While it runs it is this process's configured sandbox (``MAILWARDEN_SANDBOX_URL`` and
    ``MAILWARDEN_SANDBOX_CA_FILE``), as the demo's serving process has it: tenant blocks hold no
    hosts, so that is how every client of the tests reaches it.
    """
    from deployments.embedded import EmbeddedSandbox

    env = EmbeddedSandbox(session_data_dir, port=0, profile="fast").start()
    try:
        with env.server_settings():
            yield env
    finally:
        env.stop()


_seeds = itertools.count(1000)


@pytest.fixture
def tenant_factory(embedded: Any) -> Callable[..., tuple[Any, Any]]:
    """Add a fresh tenant to the running sandbox: ``block, state = tenant_factory(users=20)``."""

    def make(**kwargs: Any) -> tuple[Any, Any]:
        kwargs.setdefault("seed", next(_seeds))
        return embedded.add_tenant(**kwargs)

    return make


def awaits_input(client: Any, run: Any) -> bool:
    """Whether paused ``run`` has registered the schema of the input it waits for.

    A flow paused with ``wait_for_input`` saves that schema just after its state turns Paused;
    until then the server refuses to resume it ("Run input schema not found"), so a test that
    approves a paused run polls this before resuming.
    """
    import httpx

    keyset = run.state.state_details.run_input_keyset if run.state is not None else None
    if not keyset:
        return False
    try:
        client.read_flow_run_input(run.id, keyset["schema"])
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return False
        raise
    return True


# --- onboarding helpers shared by the onboarding flow tests and the whole-system suite ----------


@contextlib.contextmanager
def consent_callback(embedded: Any) -> Iterator[Any]:
    """The consent callback on a free port, registered as a redirect URI of both sandbox apps."""
    from deployments.callback import CallbackServer, create_app

    with CallbackServer(create_app()) as srv:
        for app in (embedded.basic_app, embedded.advanced_app):
            embedded.sandbox.register_app(app.client_id, redirect_uris=[srv.redirect_uri()])
        yield srv


def save_app_blocks(embedded: Any, callback: Any, prefix: str) -> dict[str, str]:
    """mailwarden's two apps saved as M365App blocks whose redirect URI is ``callback``'s."""
    import uuid

    names = {"basic": f"{prefix}-basic-{uuid.uuid4().hex[:6]}", "advanced": f"{prefix}-adv-{uuid.uuid4().hex[:6]}"}
    for tier, app in (("basic", embedded.basic_app), ("advanced", embedded.advanced_app)):
        app.model_copy(update={"redirect_uri": callback.redirect_uri()}).save(names[tier], overwrite=True)
    return names


def save_webhook_block(url: str, prefix: str) -> str:
    """A notification block that posts each notification's subject and body to ``url``."""
    import uuid

    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"{prefix}-hook-{uuid.uuid4().hex[:6]}"
    CustomWebhookNotificationBlock(
        name="mailwarden", url=url, json_data={"subject": "{{subject}}", "text": "{{body}}"},
        headers=None, cookies=None,
    ).save(name, overwrite=True)
    return name
