"""The one-machine demo: everything mailwarden needs, started locally, and a tour of the flows.

    mailwarden demo [--exit]

It starts a local Prefect server (SQLite under the data directory), the sandbox tenant over TLS
with two customer tenants (one global, one US government GCC High) whose mailboxes mix generated
mail with real mail from ``../shared/corpus`` when it is there, the consent callback and a
process serving every deployment. Then it plays the operator: onboards both tenants (following
each consent link as the customer's admin would), reconciles licences, scans with a report-only
policy and then remediates (both judged against the sandbox's ground truth), audits inbox rules
(a planted malicious rule starts the takeover playbook through its event trigger, auto-approved
in demo mode), recalls a message, and prints the scans' detection rates and where to look in the
Prefect UI. It keeps serving until Ctrl-C (or stops at once with --exit).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

PREFECT_PORT = int(os.environ.get("MAILWARDEN_PREFECT_PORT", "4200"))
STALE_CONNECTION_VARIABLE = "mailwarden-sandbox-connection"  # earlier demos kept host overrides here
SCAN_SINCE = "2000-01-01T00:00:00Z"
REAL_MAIL_SHARE = 0.5
DEMO_POLL_SECONDS = 2  # how often the serving process looks for runs and onboarding for consent


def say(message: str) -> None:
    print(f"[mailwarden] {message}", flush=True)


def prefect_env(data_dir: Path) -> dict[str, str]:
    """Environment pointing Prefect at the local server, its home under the data directory."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str((data_dir / "prefect").resolve()),
            "PREFECT_API_URL": f"http://127.0.0.1:{PREFECT_PORT}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_URL": f"http://127.0.0.1:{PREFECT_PORT}",
            "PREFECT_LOGGING_LEVEL": env.get("PREFECT_LOGGING_LEVEL", "INFO"),
            "MAILWARDEN_DATA_DIR": str(data_dir.resolve()),
        }
    )
    return env


@contextlib.contextmanager
def background(cmd: list[str], env: dict[str, str], log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run a child process in its own process group; stop the whole group on exit."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_for_prefect(timeout: float = 180.0) -> None:
    url = f"http://127.0.0.1:{PREFECT_PORT}/api/health"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.5)
    raise RuntimeError(f"the Prefect server did not answer on {url} within {timeout:.0f} s")


def wait_for_deployments(names: list[str], timeout: float = 180.0) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with get_client(sync_client=True) as client:
            have = {f"{d.name}" for d in client.read_deployments()}
        if set(names) <= have:
            return
        time.sleep(1)
    raise RuntimeError("the deployments did not appear; see .data/logs/serve.log")


class Operator:
    """Drives the flows through the Prefect API, as an operator or an automation would."""

    def __init__(self, env: Any) -> None:
        self.env = env  # EmbeddedSandbox
        self.runs: list[tuple[str, Any]] = []

    def start(self, deployment: str, parameters: dict[str, Any]) -> Any:
        from prefect.deployments import run_deployment

        run: Any = run_deployment(f"{deployment}/{deployment}", parameters=parameters, timeout=0)
        say(f"started {deployment} ({run.name})")
        return run

    def wait(self, run: Any, label: str, timeout: float = 900.0) -> Any:
        from prefect.client.orchestration import get_client

        deadline = time.monotonic() + timeout
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                run = client.read_flow_run(run.id)
                if run.state and run.state.is_final():
                    break
                time.sleep(1)
        state = run.state.name if run.state else "unknown"
        self.runs.append((label, run))
        say(f"{label}: {state}")
        return run

    def run(self, deployment: str, parameters: dict[str, Any], label: str | None = None) -> Any:
        return self.wait(self.start(deployment, parameters), label or deployment)

    def onboard(self, domain: str, cloud: str) -> Any:
        """Start onboarding and grant consent in the sandbox as the tenant's admin would."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        run = self.start(
            "onboard-tenant",
            {
                "tenant": domain,
                "cloud": cloud,
                "tier": "advanced",
                "apps": {"consent_poll_seconds": DEMO_POLL_SECONDS},
                "readiness": {"limit_seconds": 120, "initial_delay": 1, "max_delay": 5},
            },
        )
        followed: set[str] = set()
        deadline = time.monotonic() + 300
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                current = client.read_flow_run(run.id)
                if current.state and current.state.is_final():
                    break
                found = client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
                )
                for artifact in found:
                    if artifact.key and artifact.key.startswith("consent-url") and str(artifact.id) not in followed:
                        match = re.search(r"\((https://[^)\s]+)\)", str(artifact.data))
                        if match:
                            followed.add(str(artifact.id))
                            self.admin_consents(match.group(1))
                time.sleep(1)
        return self.wait(run, f"onboard {domain} ({cloud})")

    def admin_consents(self, url: str) -> None:
        """The admin opens the consent link and approves; the sandbox redirects to the callback."""
        with httpx.Client(verify=self.env.ca_file, follow_redirects=True, timeout=60) as http:
            reply = http.get(url)
        say(f"admin consent answered: {reply.status_code} {reply.url.path}")


def tour(env: Any, tenants: list[tuple[Any, Any]]) -> Operator:
    """The demo's flows, in the order an operator would run them."""
    op = Operator(env)
    for block, _ in tenants:
        op.onboard(block.primary_domain, block.cloud)
    _save_demo_policies(tenants)
    for block, _ in tenants:
        op.run("reconcile-licenses", {"tenant": block.primary_domain}, f"reconcile {block.primary_domain}")
    block, state = tenants[0]
    domain = block.primary_domain
    # The sandbox's mail is dated from its generator's fixed start and real mail keeps its own dates
    # (the legitimate set is from 2002), so the window reaches back far. The sandbox knows what it
    # planted: ``ground_truth="sandbox"`` adds recall and false-positive rates to the summaries.
    scan = {"tenant": domain, "since": SCAN_SINCE, "ground_truth": "sandbox"}
    op.run("historic-scan", scan, "historic scan, report only")
    op.run(
        "historic-scan",
        {**scan, "policy": {"actions": {"malicious": "quarantine", "suspicious": "quarantine",
                                        "spam": "move_to_junk"}}},
        "historic scan, remediate",
    )
    victim = _plant_malicious_rule(env, state)
    earlier = {run.id for run in _runs_of("takeover-response")}
    op.run("rules-audit", {"tenant": domain}, "rules audit")
    playbook = _wait_for_triggered_run("takeover-response", earlier, timeout=180)
    if playbook is not None:
        op.wait(playbook, f"takeover response for {victim} (started by the rule event)")
    else:
        say("the takeover playbook did not start from the event within 3 minutes")
    fixture = _recall_fixture(env, state)
    if fixture:
        op.run(
            "recall-message",
            {"tenant": domain, "sender": fixture["sender"], "internet_message_id": fixture["internet_message_id"],
             "action": "quarantine", "approval": "auto"},
            "recall a message",
        )
    _protection_step(op, env, state, domain)
    return op


# -- continuous protection: subscribe, deliver new mail, watch the phishing one get quarantined --


def _protection_step(op: Operator, env: Any, state: Any, domain: str) -> None:
    """Subscribe the mailboxes to change notifications, deliver a phishing and a benign message
    (as mail arriving from outside would), let ``process-notifications`` act, show where each is."""
    from m365sandbox.samples import benign_message, phishing_message

    op.run("protect-mailboxes", {"tenant": domain}, "protect mailboxes (change-notification subscriptions)")
    user = [u for u in state.users.values()
            if u.get("accountEnabled") and u.get("userType") == "Member" and u["id"] in state.mailboxes][-1]
    phish, fine = phishing_message(user["userPrincipalName"], 1), benign_message(user["userPrincipalName"], 2)
    with httpx.Client(verify=env.ca_file, trust_env=False, timeout=30) as http:
        for message in (phish, fine):
            http.post(f"{env.url}/_sandbox/tenants/{state.id}/mailboxes/{user['id']}/messages",
                      json={"message": message}).raise_for_status()
    say(f"delivered a phishing and a benign message to {user['userPrincipalName']}")
    op.run("process-notifications", {"tenant": domain, "idle_seconds": 10}, "process new-mail notifications")
    for label, message in (("phishing", phish), ("benign", fine)):
        say(f"the {label} message is now in: {_folder_of(state, user['id'], message['internetMessageId'])}")


def _folder_of(state: Any, mailbox_id: str, internet_message_id: str) -> str:
    mb = state.mailboxes[mailbox_id]
    with mb.lock:
        for item in mb.items.values():
            if item.get("internetMessageId") == internet_message_id:
                return str(mb.folders[item.folder]["displayName"])
    return "(not found)"


def _plant_malicious_rule(env: Any, state: Any) -> str:
    """An attacker's rule: forward everything outside and hide it in RSS Feeds."""
    user = next(
        u for u in state.users.values()
        if u.get("accountEnabled") and u.get("userType") == "Member" and u["id"] in state.mailboxes
    )
    env.sandbox.inject_rule(
        state.id,
        user["id"],
        {
            "displayName": ".",
            "sequence": 1,
            "isEnabled": True,
            "conditions": {},
            "actions": {"forwardTo": [{"emailAddress": {"address": "drop.box@exfil-mail.example"}}],
                        "markAsRead": True, "stopProcessingRules": True},
        },
    )
    say(f"planted a malicious inbox rule in {user['userPrincipalName']}")
    return str(user["userPrincipalName"])


def _save_demo_policies(tenants: list[tuple[Any, Any]]) -> None:
    """The demo's operator lets the takeover playbook run every step unattended in its sandbox
    tenants (so the planted rule is contained without anyone at the keyboard). That is the
    operator's policy, saved as each tenant's M365 Tenant Policy block; without one every step
    that locks a person out waits for an approval."""
    from blocks.m365 import tenant_block_name
    from blocks.policy import M365TenantPolicy, policy_block_name
    from mailwarden.policy import TAKEOVER_STEPS

    for block, state in tenants:
        name = policy_block_name(tenant_block_name(block.primary_domain))
        M365TenantPolicy(tenant_id=state.id, takeover_unattended_steps=list(TAKEOVER_STEPS)).save(  # type: ignore[arg-type]
            name, overwrite=True)
        say(f"policy {name}: every takeover step runs unattended in the sandbox tenant {block.primary_domain}")


def _recall_fixture(env: Any, state: Any) -> dict[str, Any] | None:
    fixtures = state.truth.recall_fixtures
    if not fixtures:
        return None
    first = fixtures[0]
    return {"sender": state.users[first["sender"]]["mail"], "internet_message_id": first["internet_message_id"]}


def _runs_of(deployment: str) -> list[Any]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    with get_client(sync_client=True) as client:
        return list(
            client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])))
        )


def _wait_for_triggered_run(deployment: str, earlier: set[Any], timeout: float) -> Any:
    """The first run of ``deployment`` that was not there before (started by an automation)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [run for run in _runs_of(deployment) if run.id not in earlier]
        if fresh:
            return fresh[0]
        time.sleep(1)
    return None


def summary(op: Operator) -> None:
    ui = f"http://127.0.0.1:{PREFECT_PORT}"
    say("summary")
    for label, run in op.runs:
        state = run.state.name if run.state else "unknown"
        print(f"  {state:<10} {label:<60} {ui}/runs/flow-run/{run.id}")
    for label, run in op.runs:
        if label.startswith("historic scan"):
            rates = scan_rates(run.id)
            if rates:
                print(f"\n  {label}: detection against the sandbox's ground truth")
                print("\n".join(f"    {line}" for line in rates))
    print(f"\n  Prefect UI:   {ui}  (Deployments, Runs, Artifacts, Blocks)")
    print(f"  Artifacts:    {ui}/artifacts  (consent links, readiness, licence counts, scan summaries, playbooks)")
    print(f"  Audit log:    the remediation_actions table of {os.environ.get('MAILWARDEN_STORE_URL')}", flush=True)


def scan_rates(flow_run_id: Any) -> list[str]:
    """The ground-truth section of a historic scan's summary artifact (recall, false positives)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
            key=ArtifactFilterKey(like_="historic-scan-summary-%")))  # per tenant; the run picks one
    text = str(found[0].data) if found else ""
    section = text.split("## Detection against ground truth", 1)[1] if "## Detection against" in text else ""
    return [line for line in section.strip().splitlines() if line.strip() and not line.startswith("|---")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the mailwarden demo against the sandbox tenant")
    parser.add_argument("--exit", action="store_true", help="stop everything once the demo has run")
    parser.add_argument("--data-dir", default=os.environ.get("MAILWARDEN_DATA_DIR", ".data"))
    parser.add_argument("--users", type=int, default=40, help="users per sandbox tenant")
    args = parser.parse_args(argv)
    _stop_cleanly_on_signals()

    data_dir = Path(args.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env_vars = prefect_env(data_dir)
    if "MAILWARDEN_STORE_URL" not in os.environ:
        # The sandbox's tenants are made anew each run, so the demo's store starts anew too.
        store_file = data_dir / "demo-store.sqlite"
        for stale in data_dir.glob("demo-store.sqlite*"):
            stale.unlink()
        env_vars["MAILWARDEN_STORE_URL"] = f"sqlite:///{store_file}"
    os.environ.update(env_vars)
    logs = data_dir / "logs"

    from mailwarden.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    with contextlib.ExitStack() as stack:
        say(f"starting the Prefect server on http://127.0.0.1:{PREFECT_PORT} (log: {logs / 'prefect-server.log'})")
        stack.enter_context(
            background(
                [sys.executable, "-m", "prefect", "server", "start",
                 "--host", "127.0.0.1", "--port", str(PREFECT_PORT)],
                env_vars, logs / "prefect-server.log",
            )
        )
        wait_for_prefect()
        sandbox_env, tenants = _start_sandbox(stack, data_dir, settings, args.users)
        # The sandbox is server configuration: this process and the serving one (where every flow
        # runs) get it through MAILWARDEN_SANDBOX_URL / MAILWARDEN_SANDBOX_CA_FILE, never a parameter.
        stack.enter_context(sandbox_env.server_settings())
        _start_callback(stack, settings)
        _save_apps(sandbox_env)
        _forget_stale_connections([block.block_name for block, _ in tenants])
        say("serving every deployment (log: .data/logs/serve.log)")
        stack.enter_context(
            background([sys.executable, "-m", "deployments.serve"],
                       {**env_vars, **sandbox_env.settings_env(),
                        "PREFECT_RUNNER_POLL_FREQUENCY": str(DEMO_POLL_SECONDS)}, logs / "serve.log")
        )
        from tasks.catalog import CATALOG

        wait_for_deployments([item.name for item in CATALOG])
        try:
            op = tour(sandbox_env, tenants)
            summary(op)
            if not args.exit:
                say("serving until Ctrl-C")
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            say("stopping")
    failed = [label for label, run in locals().get("op", Operator(None)).runs
              if not (run.state and run.state.is_completed())]
    return 1 if failed else 0


def _stop_cleanly_on_signals() -> None:
    """Ctrl-C and SIGTERM both stop everything through the same clean path (KeyboardInterrupt).

    A demo started in the background by a shell inherits an ignored SIGINT; reset it so Ctrl-C and
    ``kill -INT`` work, and turn SIGTERM into the same clean stop instead of an abrupt exit that
    would leave the Prefect server and the serving process behind.
    """

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, interrupt)


def _start_sandbox(stack: contextlib.ExitStack, data_dir: Path, settings: Any, users: int) -> tuple[Any, Any]:
    from deployments.embedded import EmbeddedSandbox, corpus_dir, real_mail_sources

    redirect = f"http://{settings.callback_host}:{settings.callback_port}/consent/callback"
    env = EmbeddedSandbox(data_dir, port=settings.sandbox_port, profile="fast", redirect_uri=redirect)
    stack.enter_context(env)
    real = real_mail_sources()
    mail: dict[str, Any] = {"real_mail": real, "real_mail_share": REAL_MAIL_SHARE} if real else {}
    if real:
        say(f"mixing real mail from {corpus_dir()} into the generated mail ({REAL_MAIL_SHARE:.0%} of inbound)")
    else:
        say(f"no real-mail corpus at {corpus_dir()}: the tenants carry generated mail only")
    tenants = [
        env.add_tenant(seed=1, users=users, cloud="global", consent=None, **mail),
        env.add_tenant(seed=2, users=max(10, users // 2), cloud="usgov-gcchigh", consent=None, **mail),
    ]
    say(f"sandbox tenant server on {env.url}: " + ", ".join(f"{b.primary_domain} ({b.cloud})" for b, _ in tenants))
    return env, tenants


def _start_callback(stack: contextlib.ExitStack, settings: Any) -> None:
    from deployments.callback import CallbackServer

    server = CallbackServer(host=settings.callback_host, port=settings.callback_port)
    server.start()
    stack.callback(server.stop)
    say(f"consent callback on http://{settings.callback_host}:{settings.callback_port}/consent/callback")


def _forget_stale_connections(block_names: list[str]) -> None:
    """The sandbox's tenants are new each run: drop the connections an earlier demo saved for them."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        for name in block_names:
            try:
                document = client.read_block_document_by_name(name, block_type_slug="m365-tenant")
            except ObjectNotFound:
                continue
            client.delete_block_document(document.id)
            say(f"removed the earlier demo's connection of {name}")


def _save_apps(env: Any) -> None:
    """The app blocks, where onboarding looks for them (the hosts are the serving process's settings)."""
    from prefect.variables import Variable

    env.basic_app.save("mailwarden-basic", overwrite=True)
    env.advanced_app.save("mailwarden-advanced", overwrite=True)
    Variable.unset(STALE_CONNECTION_VARIABLE)  # an earlier demo's host overrides: nothing reads them now


if __name__ == "__main__":
    raise SystemExit(main())
