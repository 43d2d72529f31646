"""Flows ``onboard-tenant`` and ``offboard-tenant``: connecting a customer tenant, and letting go.

Onboarding steps (each a task in ``tasks/onboarding.py`` with its own retries):

1. validate the parameters (before any I/O; unknown fields are refused), load the app blocks;
   the hosts are Microsoft's for the cloud, or the server's sandbox (``MAILWARDEN_SANDBOX_URL``),
   never a parameter (``tasks/onboarding.py``);
2. per app the tier needs (basic; advanced adds a second app): build the admin-consent URL with a
   fresh ``state``, record the request (state hash, run id, expiry), show the URL as a Markdown
   artifact ``consent-url-<tenant>`` (``...-advanced`` for the second app) and in the logs;
3. wait for the consent callback (``deployments/callback.py``) to resume the run with a
   :class:`ConsentResult`; a refusal fails the run with the admin's reason, no answer within
   the timeout fails it with a message saying how to try again;
4. poll readiness (a read-only call per capability, with backoff, up to a limit) and publish a
   ``readiness-<tenant>`` table artifact; past the limit the run fails naming what is missing;
5. save the tenant's ``M365Tenant`` block (updated in place when it exists; a block name that
   holds another tenant's block fails the run and is left alone) and register the
   tenant in the store; add its schedules (``tasks/schedules.py``); notify; optionally mail the
   admin; start the first directory sync. Offboarding removes the schedules.

Running it again for a connected tenant asks only for the consents it lacks (advanced tier on a
basic tenant), or for all of them with ``update=True`` ("update permissions"); the block and
the store rows are updated, never recreated.

Why ``pause_flow_run`` and not ``suspend_flow_run``: a suspended run is torn down and re-run from
the start on resume, so the consent step would have to persist its result -- and the consent
URL carries the ``state``, which must live only in the operator's browser and (hashed) in our
store, not in Prefect's result storage. Suspension also needs a deployment, while operators and
tests call this flow directly. Consent takes minutes, so the run keeps its process while it
waits (it is a cheap sleeping poll, not a busy worker slot); if that process dies, the run
times out and re-running it issues a fresh link.
"""

from __future__ import annotations

import contextvars
import threading
import uuid
from typing import Any, Literal, cast

from prefect import flow, get_run_logger
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url

from blocks.m365 import M365App, M365Tenant
from mailwarden.onboarding import Tier, check_same_tenant, is_guid, normalize_tenant_ref, tiers_to_consent
from tasks.common import current_flow_run_id, load_tenant
from tasks.notify import notify_task
from tasks.onboarding import (
    check_readiness,
    discover_tenant,
    find_connected_tenant,
    forget_tenant,
    load_apps,
    mail_admin,
    record_tenant,
    save_tenant_block,
    start_consent,
    start_first_sync,
)
from tasks.onboarding import tenant_block_name as _block_name
from tasks.schedules import add_tenant_schedules, remove_tenant_schedules

CloudName = Literal["global", "usgov-gcchigh", "usgov-dod", "china"]
TierName = Literal["basic", "advanced"]
PAUSE_BACKSTOP_S = 60


class ConsentResult(RunInput):
    """What the consent callback resumes a waiting onboarding run with."""

    granted: bool = Field(title="Consent granted", description="The tenant's admin granted the permissions.")
    tenant_id: str | None = Field(default=None, title="Tenant id",
                                  description="The directory (tenant) GUID that granted consent.")
    error: str | None = Field(default=None, title="Error",
                              description="The error code Microsoft returned when consent was refused.")
    error_description: str | None = Field(default=None, title="Error description",
                                          description="Microsoft's text of the refusal.")
    tier: str | None = Field(default=None, title="Permission tier", description="basic or advanced.")
    timed_out: bool = Field(default=False, title="Timed out",
                            description="Set by the run itself when no answer came in time.")


class ReadinessOptions(BaseModel):
    """How long and how often to check that consent has propagated."""

    model_config = ConfigDict(extra="forbid")

    limit_seconds: float = Field(default=300, gt=0, title="Limit (s)", description="Give up after this long.")
    initial_delay: float = Field(default=2, gt=0, title="First wait (s)", description="Backoff starts here.")
    max_delay: float = Field(default=30, gt=0, title="Longest wait (s)", description="Backoff cap.")


class AppSources(BaseModel):
    """Where onboarding finds the app registrations (hosts are server configuration, not parameters).

    Unknown fields are refused, so a leftover or forged ``connection`` gives a clear validation error
    instead of being dropped silently.
    """

    model_config = ConfigDict(extra="forbid")

    basic_app_block: str = Field(
        default="mailwarden-basic",
        title="Basic app block",
        description="Saved M365App block of the basic app.",
    )
    advanced_app_block: str = Field(
        default="mailwarden-advanced",
        title="Advanced app block",
        description="Saved M365App block of the advanced app.",
    )
    redirect_uri: str | None = Field(
        default=None, title="Redirect URI", description="Callback URL; default: the app block's redirect URI."
    )
    first_sync_deployment: str | None = Field(
        default="reconcile-licenses/reconcile-licenses",
        title="First sync deployment",
        description="Deployment started once the tenant is connected (empty: none).",
    )
    consent_poll_seconds: int = Field(
        default=10,
        ge=1,
        title="Consent poll (s)",
        description="How often the paused run checks for the callback.",
    )


class ConsentRefused(Exception):
    """The admin refused consent (the message carries Azure AD's reason)."""


class ConsentTimeout(Exception):
    """No consent came back in time."""


def plan_consents(tier: str, existing: M365Tenant | None, update: bool) -> list[Tier]:
    """The apps to ask consent for: all the tier needs, minus those a connected tenant has."""
    wanted = tiers_to_consent(tier)
    if existing is None or update:
        return wanted
    have = {Tier.BASIC} | ({Tier.ADVANCED} if existing.advanced_app is not None else set())
    return [t for t in wanted if t not in have]


_PASSWORD_KEYS = ("password", "passwd", "pwd")


def _check_store_url(store_url: str | None) -> str | None:
    """``store_url`` if it carries no password (in the user info or the query string); never echoed."""
    if not store_url:
        return None
    try:
        url = make_url(store_url)
    except Exception:  # noqa: BLE001 - sqlalchemy raises ArgumentError and ValueError
        raise ValueError("store_url is not a database URL") from None
    in_query = any(key.lower().endswith(_PASSWORD_KEYS) for key in url.query)
    if url.password or in_query:
        raise ValueError(
            f"store_url must not carry a password in a flow parameter ({'query string' if in_query else 'user info'}):"
            " name a Secret block in store_url_secret"
        )
    return store_url


def _resolve_store_url(store_url: str | None, secret_block: str | None) -> str | None:
    if secret_block:
        from prefect.blocks.system import Secret

        try:
            return str(cast(Secret, Secret.load(secret_block)).get())
        except ValueError as exc:
            raise ValueError(f"no Secret block named {secret_block!r}") from exc
    return store_url


def _resume_at(deadline_s: float, flow_run_id: str) -> threading.Timer:
    """Resume our own paused run with ``timed_out=True`` at the deadline.

    Letting Prefect's pause timeout fire instead would fail the run with the server's generic
    "never resumed" message; this way the run fails with ours. Prefect's own timeout stays as a
    backstop a minute later.
    """
    ctx = contextvars.copy_context()

    def fire() -> None:
        try:
            resume_flow_run(uuid.UUID(flow_run_id), run_input={"granted": False, "timed_out": True})
        except (NotPausedError, RuntimeError, FlowPauseTimeout):
            pass  # the callback got there first, or the run already ended

    timer = threading.Timer(deadline_s, lambda: ctx.run(fire))
    timer.daemon = True
    timer.start()
    return timer


def wait_for_consent(tenant: str, tier: Tier, timeout_minutes: float, poll_seconds: int) -> ConsentResult:
    """Pause until the callback resumes the run with the consent result (or the deadline passes)."""
    timeout = max(1, round(timeout_minutes * 60))
    message = (
        f"no consent for the {tier.value} app within {timeout_minutes:g} minutes; open the consent URL "
        f"again by re-running onboard-tenant for {tenant} (each run issues a fresh link)"
    )
    run_id = current_flow_run_id()
    timer = _resume_at(timeout, run_id) if run_id else None
    try:
        result = pause_flow_run(
            wait_for_input=ConsentResult,
            timeout=timeout + PAUSE_BACKSTOP_S,
            poll_interval=poll_seconds,
            key=f"consent-{tier.value}",
        )
    except FlowPauseTimeout as exc:
        raise ConsentTimeout(message) from exc
    finally:
        if timer is not None:
            timer.cancel()
    if result.timed_out:
        raise ConsentTimeout(message)
    if not result.granted:
        raise ConsentRefused(
            f"the admin of {tenant} did not grant the {tier.value} permissions: "
            f"{result.error or 'error'}: {result.error_description or 'no reason given'}"
        )
    if not result.tenant_id or not is_guid(result.tenant_id):
        raise ConsentRefused("the consent callback did not name the tenant")
    return result


@flow(name="onboard-tenant")
def onboard_tenant(
    tenant: str,
    cloud: CloudName = "global",
    tier: TierName = "basic",
    update: bool = False,
    notify_target: str | None = None,
    admin_email: str | None = None,
    mail_from: str | None = None,
    store_url: str | None = None,
    store_url_secret: str | None = None,
    consent_timeout_minutes: float = 30.0,
    readiness: ReadinessOptions | None = None,
    apps: AppSources | None = None,
) -> dict[str, Any]:
    """Connect a Microsoft 365 tenant: admin consent, readiness, block, notification, first sync.

    Args:
        tenant: the tenant's primary domain or tenant id (GUID).
        cloud: global (incl. GCC), usgov-gcchigh, usgov-dod or china (21Vianet).
        tier: basic (mail protection) or advanced (adds identity response; a second consent).
        update: ask for consent again even for apps already consented ("Update permissions").
        notify_target: name of a Prefect notification block (Slack, Teams, custom webhook).
        admin_email: mail a notice to this admin through Graph sendMail (from ``mail_from``).
        mail_from: the tenant mailbox the notice is sent from (default: ``admin_email``).
        store_url: this tenant's own database URL (data residency), without a password.
        store_url_secret: name of a Secret block holding the store URL (with its password).
        consent_timeout_minutes: how long each consent link stays valid and the run waits.
        readiness: how long and how often to check that consent has propagated.
        apps: where the app registrations and the redirect URI come from.
    """
    log = get_run_logger()
    readiness = readiness or ReadinessOptions()
    apps = apps or AppSources()
    ref = normalize_tenant_ref(tenant)
    if not consent_timeout_minutes > 0:
        raise ValueError("consent_timeout_minutes must be positive")
    if readiness.max_delay < readiness.initial_delay:
        raise ValueError("readiness.max_delay must be at least readiness.initial_delay")
    if admin_email is not None and "@" not in admin_email:
        raise ValueError("admin_email must be a mail address")
    own_store = _resolve_store_url(_check_store_url(store_url), store_url_secret)

    basic_app, advanced_app = load_apps(tier, apps.basic_app_block, apps.advanced_app_block)
    existing = find_connected_tenant(ref)
    plan = plan_consents(tier, existing, update)
    tenant_id = existing.tenant_id if existing is not None else (ref if is_guid(ref) else None)
    if tenant_id is None:  # know which tenant to expect before trusting a consent callback
        tenant_id = discover_tenant(ref, cloud)
    if not plan:
        log.info("%s is already connected at the %s tier: re-checking readiness only", ref, tier)
    for step in plan:
        app: M365App | None = basic_app if step is Tier.BASIC else advanced_app
        assert app is not None
        start_consent(
            ref,
            step.value,
            app,
            cloud,
            apps.redirect_uri or app.redirect_uri,
            consent_timeout_minutes,
        )
        result = wait_for_consent(ref, step, consent_timeout_minutes, apps.consent_poll_seconds)
        assert result.tenant_id is not None
        if tenant_id is not None and result.tenant_id != tenant_id.lower():
            raise ConsentRefused(f"consent came back from tenant {result.tenant_id}, not {tenant_id}")
        tenant_id = result.tenant_id
        log.info("consent for the %s app granted by tenant %s", step.value, tenant_id)
    assert tenant_id is not None

    effective_advanced = advanced_app or (existing.advanced_app if existing is not None else None)
    ready = check_readiness(
        tenant_id,
        cloud,
        basic_app,
        effective_advanced,
        limit_seconds=readiness.limit_seconds,
        initial_delay=readiness.initial_delay,
        max_delay=readiness.max_delay,
        artifact_key=f"readiness-{_block_name(ref)}",
    )
    check_same_tenant(ref, tenant_id, {"verifiedDomains": [{"name": d} for d in ready["verified_domains"]]})
    block_name = save_tenant_block(
        existing,
        tenant_id,
        ready["primary_domain"],
        cloud,
        basic_app,
        effective_advanced,
        own_store,
    )
    record_tenant(block_name)
    add_tenant_schedules(block_name)

    final_tier = "advanced" if effective_advanced is not None else "basic"
    lines = [f"- {r['capability']}: {r['status']} ({r['detail']})" for r in ready["rows"]]
    subject = f"mailwarden: {ready['primary_domain']} {'updated' if existing else 'connected'}"
    body = (
        f"Tenant {ready['primary_domain']} ({tenant_id}) is connected in the {cloud} cloud "
        f"at the {final_tier} tier.\n" + "\n".join(lines)
    )
    notify_task(notify_target, subject, body)
    if admin_email:
        mail_admin(block_name, mail_from or admin_email, admin_email, subject, body)
    sync_run = start_first_sync(apps.first_sync_deployment, block_name)
    return {
        "tenant_id": tenant_id,
        "block_name": block_name,
        "tier": final_tier,
        "cloud": cloud,
        "readiness": ready["rows"],
        "consented": [t.value for t in plan],
        "first_sync_run": sync_run,
    }


@flow(name="offboard-tenant")
def offboard_tenant(
    tenant: str, purge_data: bool = False, notify_target: str | None = None
) -> dict[str, Any]:
    """Disconnect a tenant: remove its block and cached tokens; keep or purge its stored data.

    Args:
        tenant: the tenant's block name or primary domain.
        purge_data: also delete its directory, findings, audit and other rows (the tenant
            registry row stays, marked offboarded).
        notify_target: name of a Prefect notification block to tell.
    """
    block = load_tenant(tenant)
    result = forget_tenant(block.block_name, purge_data)
    remove_tenant_schedules(block.block_name)
    kept = "purged" if purge_data else "kept"
    notify_task(
        notify_target,
        f"mailwarden: {result['domain']} disconnected",
        f"Tenant {result['domain']} ({result['tenant_id']}) was offboarded; its stored data was {kept}. "
        "Remove the mailwarden apps from the tenant's Enterprise applications to revoke consent.",
    )
    return result
