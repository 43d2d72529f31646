"""The sandbox tenant wired to mailwarden's blocks, for the demo and the flow tests.

It starts the sandbox's TLS server, registers mailwarden's two app registrations in it (basic
and advanced tier) with fresh random secrets, and hands out ``M365Tenant`` blocks for its
tenants. The blocks hold no hosts: :meth:`EmbeddedSandbox.server_settings` points the process's
server settings (``MAILWARDEN_SANDBOX_URL``, ``MAILWARDEN_SANDBOX_CA_FILE``) at the sandbox, and
:meth:`EmbeddedSandbox.settings_env` gives the same variables to processes started from here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.core import DEFAULT_TIERS
from m365sandbox.generator import generate_tenant
from pydantic import SecretStr

from blocks.m365 import M365App, M365Tenant

Consent = Literal["basic", "advanced"] | None

BASIC_APP_ID = "6d1f6a3e-5c1b-4d55-9d7e-0b7a0c6e1a01"
ADVANCED_APP_ID = "6d1f6a3e-5c1b-4d55-9d7e-0b7a0c6e1a02"
CORPUS_SETS = {"phishing": "phishing_pot-dev.tar.gz", "legitimate": "spamassassin-ham-dev.tar.gz"}


def corpus_dir() -> Path:
    """Where the real-mail corpus lives: ``$MAILWARDEN_SHARED_DIR/corpus``, else ``../shared/corpus``."""
    shared = os.environ.get("MAILWARDEN_SHARED_DIR")
    return (Path(shared) if shared else Path(__file__).resolve().parents[2] / "shared") / "corpus"


def real_mail_sources(corpus: Path | None = None) -> list[tuple[str, str]] | None:
    """``(archive, label)`` of the corpus dev sets for ``add_tenant(real_mail=...)``; None if absent."""
    corpus = corpus or corpus_dir()
    paths = [(corpus / name, label) for label, name in CORPUS_SETS.items()]
    if not all(path.is_file() for path, _ in paths):
        return None
    return [(str(path), label) for path, label in paths]


class EmbeddedSandbox:
    """A running sandbox tenant server with mailwarden's apps registered in it."""

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        profile: str = "fast",
        redirect_uri: str = "http://127.0.0.1:8766/consent/callback",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.profile = profile
        self.redirect_uri = redirect_uri
        self.sandbox: Sandbox = Sandbox(profile=profile)
        self.server: SandboxServer | None = None
        self.basic_app = self._register("basic", BASIC_APP_ID)
        self.advanced_app = self._register("advanced", ADVANCED_APP_ID)

    def _register(self, tier: Literal["basic", "advanced"], client_id: str) -> M365App:
        secret = secrets.token_urlsafe(32)
        # One app registration per tier, as vendors do: each carries only its tier's permissions.
        roles = DEFAULT_TIERS[tier]
        self.sandbox.register_app(
            client_id, secret=secret, redirect_uris=[self.redirect_uri], tiers={"basic": roles, tier: roles}
        )
        return M365App(client_id=client_id, client_secret=SecretStr(secret), tier=tier, redirect_uri=self.redirect_uri)

    def start(self) -> EmbeddedSandbox:
        """Start the TLS server (idempotent)."""
        if self.server is None:
            state_dir = self.data_dir / "sandbox"
            state_dir.mkdir(parents=True, exist_ok=True)
            self.server = SandboxServer(self.sandbox, host=self.host, port=self.port, state_dir=state_dir)
            self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> EmbeddedSandbox:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType] | Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the sandbox first"
        return str(self.server.url)

    @property
    def ca_file(self) -> str:
        assert self.server is not None, "start() the sandbox first"
        return str(self.server.ca_file)

    def settings_env(self) -> dict[str, str]:
        """The server settings (environment variables) that send every tenant's traffic to this sandbox."""
        return {"MAILWARDEN_SANDBOX_URL": self.url, "MAILWARDEN_SANDBOX_CA_FILE": self.ca_file}

    @contextlib.contextmanager
    def server_settings(self) -> Iterator[dict[str, str]]:
        """Point this process's settings at the sandbox (``get_settings()`` re-read); restored on exit."""
        from mailwarden.settings import overridden_settings

        wanted = self.settings_env()
        with overridden_settings(**wanted):
            yield wanted

    def add_tenant(
        self,
        *,
        seed: int = 1,
        users: int = 30,
        cloud: str = "global",
        consent: Consent = "advanced",
        **generator_kwargs: Any,
    ) -> tuple[M365Tenant, Any]:
        """Generate a tenant into the sandbox; return its block (unsaved) and its live state."""
        tenant_id = str(uuid.UUID(int=random_bits(seed)))
        tenant_seed = generate_tenant(seed=seed, users=users, cloud=cloud, tenant_id=tenant_id, **generator_kwargs)
        state = self.sandbox.add_tenant(tenant_seed)
        if consent is not None:
            self.sandbox.grant_consent(state.id, self.basic_app.client_id, tier="basic")
            if consent == "advanced":
                self.sandbox.grant_consent(state.id, self.advanced_app.client_id, tier="advanced")
        block = self.tenant_block(state.id, state.domain, cloud, advanced=consent == "advanced")
        return block, state

    def tenant_block(self, tenant_id: str, domain: str, cloud: str, *, advanced: bool) -> M365Tenant:
        """An ``M365Tenant`` block for a tenant of this sandbox (reached through :meth:`server_settings`)."""
        return M365Tenant(
            tenant_id=tenant_id,
            primary_domain=domain,
            cloud=cloud,  # type: ignore[arg-type]
            app=self.basic_app,
            advanced_app=self.advanced_app if advanced else None,
            consent_state="granted",
        )


def random_bits(seed: int) -> int:
    """A stable 128-bit number per seed (tenant ids stay the same across runs of one seed)."""
    import random

    return random.Random(f"tenant-{seed}").getrandbits(128)
