"""Onboarding and offboarding steps as tasks: thin wrappers over ``mailwarden.onboarding``.

Where onboarding gets its credentials and hosts:

* the app registrations come from saved ``M365App`` blocks, by name (defaults
  ``mailwarden-basic`` and ``mailwarden-advanced``); their ``redirect_uri`` is the callback;
* the hosts are Microsoft's for the chosen cloud, or the sandbox tenant server named by this
  server's settings (``MAILWARDEN_SANDBOX_URL``/``MAILWARDEN_SANDBOX_CA_FILE``, loopback https
  only; :func:`blocks.m365.server_endpoints`). No parameter, Prefect Variable or block field can
  move them: whoever could would receive the shared app's client id and secret with the first
  token request.

Each tenant's block has a name of its own (:func:`blocks.m365.tenant_block_name`); saving never
takes a name that holds another tenant's block (:class:`BlockNameTaken`).

The consent wait pauses the flow run (``pause_flow_run``) until the callback resumes it with a
:class:`ConsentResult`; a timer resumes it first at the deadline, so a late consent fails the run
with a message of ours. Secrets stay in the app blocks; nothing here logs or returns them.
"""

from __future__ import annotations

import contextvars
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import FlowPauseTimeout, NotPausedError
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from pydantic import Field, SecretStr

from blocks.m365 import M365App, M365Tenant, server_ca_file, server_endpoints, tenant_block_name
from mailwarden.onboarding import (
    ConsentTimeout,
    NotReady,
    ReadinessReport,
    Tier,
    advanced_checks,
    basic_checks,
    check_store_url,
    granted_tenant,
    new_consent_link,
    poll_until_ready,
    primary_domain,
    purge_tenant_data,
    verified_domains,
)
from mailwarden.store.repositories import create_consent_request, get_tenant, offboard_tenant, upsert_tenant
from tasks.common import current_flow_run_id, store_for

#: Hooks for tests: the readiness poll's sleep and clock (real time by default).
readiness_sleep: Callable[[float], None] = time.sleep
readiness_clock: Callable[[], float] = time.monotonic

#: Prefect's own pause timeout fires this long after ours, as a backstop.
PAUSE_BACKSTOP_S = 60


def endpoints(cloud: str) -> Any:
    """``CloudEndpoints`` for the cloud: Microsoft's hosts, or the server's sandbox."""
    return server_endpoints(cloud)


class BlockNameTaken(ValueError):
    """The tenant's block name already holds another tenant's block (never overwritten)."""


def _never_retry_a_taken_name(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except BlockNameTaken:
        return False
    except Exception:  # noqa: BLE001 - any other failure keeps the task's retries
        return True
    return True


@task(name="load-apps", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def load_apps(tier: str, basic_block: str, advanced_block: str) -> tuple[M365App, M365App | None]:
    """The saved app registrations the tier needs."""

    def one(name: str, what: str) -> M365App:
        try:
            return cast(M365App, M365App.load(name))
        except ValueError as exc:
            raise ValueError(f"no M365App block named {name!r} for the {what} app: save it first") from exc

    basic = one(basic_block, "basic")
    advanced = one(advanced_block, "advanced") if Tier(tier) is Tier.ADVANCED else None
    return basic, advanced


@task(name="discover-tenant", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def discover_tenant(ref: str, cloud: str) -> str:
    """The tenant id that owns the domain the operator typed (public OpenID discovery, no credentials)."""
    from mailwarden.onboarding import discover_tenant_id

    return discover_tenant_id(ref, endpoints(cloud).login_url, verify=server_ca_file() or True)


@task(name="find-connected-tenant", cache_policy=NO_CACHE)
def find_connected_tenant(tenant_ref: str) -> M365Tenant | None:
    """The tenant's saved block if it is already connected (by domain, or by id via the store).

    The store row names the block of a tenant connected earlier (whatever naming it had then);
    otherwise the block named after the domain. A block is taken only if it is this tenant's:
    the store row's tenant id, or the domain (or id) asked for -- a name shared with another
    tenant's block is never mistaken for this one.
    """
    ref = tenant_ref.strip().lower()
    candidates: list[tuple[str, Callable[[M365Tenant], bool]]] = []
    with store_for(None).session() as session:
        row = get_tenant(session, ref)
        if row is not None and row.block_name and row.offboarded_at is None:
            row_id = row.id.lower()
            candidates.append((row.block_name, lambda b: b.tenant_id == row_id))
    candidates.append((tenant_block_name(ref), lambda b: ref in (b.primary_domain, b.tenant_id)))
    for name, is_this_tenant in candidates:
        try:
            block = cast(M365Tenant, M365Tenant.load(name))
        except ValueError:
            continue
        if is_this_tenant(block):
            return block
    return None


@task(name="start-consent", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def start_consent(
    tenant_ref: str,
    tier: str,
    app: M365App,
    cloud: str,
    redirect_uri: str,
    valid_minutes: float,
) -> str:
    """Create a consent URL with a fresh state, remember its hash, and show it to the operator."""
    log = get_run_logger()
    link = new_consent_link(
        endpoints(cloud),
        tenant_ref,
        app.client_id,
        redirect_uri,
        tier=tier,
        valid_for=timedelta(minutes=valid_minutes),
    )
    with store_for(None).session() as session:
        create_consent_request(
            session,
            link.state,
            tenant_ref,
            flow_run_id=current_flow_run_id(),
            tier=tier,
            ttl=timedelta(minutes=valid_minutes),
        )
    key = consent_artifact_key(tenant_ref, tier)
    create_markdown_artifact(
        key=key,
        description=f"Admin consent for {tenant_ref} ({tier} app)",
        markdown=(
            f"## Admin consent for `{tenant_ref}`: {tier} permissions\n\n"
            f"A Global Administrator of the tenant opens this link and accepts:\n\n"
            f"[Grant admin consent]({link.url})\n\n```\n{link.url}\n```\n\n"
            f"The link works once and expires at {link.expires_at:%Y-%m-%d %H:%M} UTC."
        ),
    )
    # the link carries the one-time state: it goes to the artifact for the admin, never to the logs
    log.info("admin consent for %s (%s app): the link is in the artifact %s", tenant_ref, tier,
             key)
    return link.url


def consent_artifact_key(tenant_ref: str, tier: str) -> str:
    """``consent-url-<tenant>`` for the basic app, ``consent-url-<tenant>-advanced`` for the other."""
    base = f"consent-url-{tenant_block_name(tenant_ref)}"
    return base if Tier(tier) is Tier.BASIC else f"{base}-advanced"


def readiness_artifact_key(tenant_ref: str) -> str:
    """``readiness-<tenant>``: the readiness table of the tenant."""
    return f"readiness-{tenant_block_name(tenant_ref)}"


def store_url_for(store_url: str | None, secret_block: str | None) -> str | None:
    """The tenant's own store URL: from the named Secret block, else ``store_url`` (which must carry no
    password: :func:`mailwarden.onboarding.check_store_url`)."""
    store_url = check_store_url(store_url)
    if secret_block:
        from prefect.blocks.system import Secret

        try:
            return str(cast(Secret, Secret.load(secret_block)).get())
        except ValueError as exc:
            raise ValueError(f"no Secret block named {secret_block!r}") from exc
    return store_url


# --- waiting for consent ---------------------------------------------------------------------


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


def wait_for_consent(tenant: str, tier: Tier, timeout_minutes: float, poll_seconds: int, *,
                     expected: str | None) -> str:
    """Pause until the callback resumes the run with the consent result (or the deadline passes); the
    id of the tenant that granted it, which must be ``expected`` when that is known.

    ``ConsentTimeout`` when no answer came in time, ``ConsentRefused`` for a refusal or an answer
    from another tenant (:mod:`mailwarden.onboarding`).
    """
    timeout = max(1, round(timeout_minutes * 60))
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
        raise ConsentTimeout.after(tenant, tier, timeout_minutes) from exc
    finally:
        if timer is not None:
            timer.cancel()
    if result.timed_out:
        raise ConsentTimeout.after(tenant, tier, timeout_minutes)
    tenant_id = granted_tenant(tenant, tier, granted=result.granted, tenant_id=result.tenant_id, error=result.error,
                               error_description=result.error_description, expected=expected)
    get_run_logger().info("consent for the %s app granted by tenant %s", tier.value, tenant_id)
    return tenant_id


@task(name="check-readiness", cache_policy=NO_CACHE)
def check_readiness(
    tenant_id: str,
    cloud: str,
    basic_app: M365App,
    advanced_app: M365App | None,
    *,
    limit_seconds: float,
    initial_delay: float,
    max_delay: float,
    artifact_key: str,
) -> dict[str, Any]:
    """Poll until every granted capability answers; a table artifact says what is ready."""
    from mailwarden.graph import TokenProvider, build_exchange_client, build_graph_client

    log = get_run_logger()
    eps = endpoints(cloud)
    ca = server_ca_file()
    graph = build_graph_client(tenant_id, basic_app.credential(), eps, ca_file=ca)
    exchange = build_exchange_client(tenant_id, basic_app.credential(), eps, ca_file=ca)
    checks = basic_checks(graph, exchange, supports_message_rules=eps.supports_message_rules, cloud=cloud)
    adv_graph = None
    if advanced_app is not None:
        adv_graph = build_graph_client(tenant_id, advanced_app.credential(), eps, ca_file=ca)
        provider = TokenProvider(tenant_id, advanced_app.credential(), eps, ca_file=ca)
        checks += advanced_checks(adv_graph, lambda: provider.token(eps.graph_resource))

    def progress(report: ReadinessReport) -> None:
        log.info("readiness attempt %s after %.1f s: %s", report.attempts, report.elapsed, report.summary())

    def publish(report: ReadinessReport) -> None:
        create_table_artifact(
            key=artifact_key, table=report.rows(), description=f"Readiness of tenant {tenant_id} ({cloud})"
        )

    try:
        report = poll_until_ready(
            checks,
            limit=limit_seconds,
            initial_delay=initial_delay,
            max_delay=max_delay,
            sleep=readiness_sleep,
            clock=readiness_clock,
            on_attempt=progress,
        )
    except NotReady as exc:
        publish(exc.report)
        raise
    finally:
        for client in (graph, exchange, adv_graph):
            if client is not None:
                client.close()
    publish(report)
    for result in report.results:
        if result.status.value == "unavailable":
            log.warning("%s: %s", result.name, result.detail)
    with build_graph_client(tenant_id, basic_app.credential(), eps, ca_file=ca) as g:
        org = g.get("/organization")
    return {
        "rows": report.rows(),
        "primary_domain": primary_domain(org),
        "verified_domains": verified_domains(org),
    }


def block_holder(name: str) -> str | None:
    """The tenant id held by the tenant block named ``name`` ("" if it names none), None if no such block."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(name, block_type_slug="m365-tenant", include_secrets=False)
        except ObjectNotFound:
            return None
    return str(document.data.get("tenant_id") or "").lower()


@task(name="save-tenant-block", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2,
      retry_condition_fn=_never_retry_a_taken_name)
def save_tenant_block(
    existing: M365Tenant | None,
    tenant_id: str,
    domain: str,
    cloud: str,
    basic_app: M365App,
    advanced_app: M365App | None,
    store_url: str | None,
) -> str:
    """Create the tenant's block, or update it in place (same document, history kept).

    A name that holds another tenant's block is never overwritten: :class:`BlockNameTaken`, and
    nothing is written. A new block is created with ``overwrite=False``, so a block that appears
    under the name meanwhile is not replaced either.
    """
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "tenant_id": tenant_id,
        "primary_domain": domain,
        "cloud": cloud,
        "app": basic_app,
        "advanced_app": advanced_app or (existing.advanced_app if existing is not None else None),
        "consent_state": "granted",
        "consented_at": now,
    }
    if store_url:
        fields["store_url"] = SecretStr(store_url)
    elif existing is not None:
        fields["store_url"] = existing.store_url
    name = existing.block_name if existing is not None else tenant_block_name(domain)
    block = M365Tenant(**fields)
    holder = block_holder(name)
    if holder is not None and holder != block.tenant_id:
        raise BlockNameTaken(
            f"the block name {name!r} already holds another tenant ({holder}): not overwriting it. "
            f"Tenant {block.tenant_id} ({domain}) was not saved; rename or offboard the other tenant's block first"
        )
    block.save(name, overwrite=holder is not None)
    get_run_logger().info("saved tenant block %s (%s, %s cloud, %s tier)", name, domain, cloud, block.tier)
    return name


@task(name="record-tenant", retries=2, retry_delay_seconds=2)
def record_tenant(block_name: str) -> None:
    """Register the tenant in the store (and migrate its own store if it has one)."""
    block = cast(M365Tenant, M365Tenant.load(block_name))
    url = block.store_url.get_secret_value() if block.store_url is not None else None
    with store_for(None).session() as session:
        upsert_tenant(
            session,
            block.tenant_id,
            block.primary_domain,
            cloud=block.cloud,
            tier=block.tier,
            consent_state="ready",
            consented_at=block.consented_at,
            store_url=url,
            block_name=block_name,
            offboarded_at=None,
        )
    if url:
        store_for(block)  # creates and migrates the tenant's own store


@task(name="mail-admin", retries=2, retry_delay_seconds=5)
def mail_admin(block_name: str, sender: str, to: str, subject: str, body: str) -> None:
    """Mail the consenting admin through Graph sendMail with the tenant's basic app."""
    from tasks.notify import notify_by_mail

    block = cast(M365Tenant, M365Tenant.load(block_name))
    with block.graph_client() as graph:
        notify_by_mail(graph, sender, to, subject, body)


@task(name="start-first-sync")
def start_first_sync(deployment: str | None, block_name: str) -> str | None:
    """Start the first directory sync as its own run; a missing deployment is logged, not fatal."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    log = get_run_logger()
    if not deployment:
        log.info("no first-sync deployment configured")
        return None
    try:
        run = cast(Any, run_deployment(deployment, parameters={"tenant": block_name}, timeout=0))
    except ObjectNotFound:
        log.warning("deployment %s not found: the first directory sync was not started", deployment)
        return None
    log.info("started %s as flow run %s", deployment, run.id)
    return str(run.id)


# --- offboarding -----------------------------------------------------------------------------


@task(name="forget-tenant", retries=2, retry_delay_seconds=2)
def forget_tenant(block_name: str, purge_data: bool) -> dict[str, Any]:
    """Mark the tenant offboarded, purge its data if asked, drop its cached tokens, clients and block."""
    from tasks.common import forget_tenant_clients

    log = get_run_logger()
    block = cast(M365Tenant, M365Tenant.load(block_name))
    purged: dict[str, int] = {}
    stores = [store_for(None)]
    if block.store_url is not None and block.store_url.get_secret_value():
        stores.append(store_for(block))
    with stores[0].session() as session:
        if get_tenant(session, block.tenant_id) is None:
            upsert_tenant(session, block.tenant_id, block.primary_domain, block_name=block_name)
        offboard_tenant(session, block.tenant_id)
    if purge_data:
        for store in stores:
            with store.session() as session:
                for table, n in purge_tenant_data(session, block.tenant_id).items():
                    purged[table] = purged.get(table, 0) + n
    dropped = forget_tenant_clients(block)
    cast(Any, M365Tenant).delete(block_name)
    log.info(
        "offboarded %s (%s): block removed, %s cached token set(s), %s client(s) and %s EWS connection(s) "
        "dropped, data %s",
        block.primary_domain,
        block.tenant_id,
        dropped["token_caches"],
        dropped["clients"],
        dropped["ews_connections"],
        f"purged {purged}" if purge_data else "kept",
    )
    return {"tenant_id": block.tenant_id, "domain": block.primary_domain, "purged": purged, "dropped": dropped}

