"""``mailwarden`` command line: a small dispatcher of subcommands.

Add a subcommand by writing ``_add_<name>(subparsers)`` that sets ``func`` on its parser and
calling it from :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _sandbox_serve(args: argparse.Namespace, *, block: bool = True) -> int:
    from mailwarden.sandbox import Sandbox, SandboxServer
    from mailwarden.sandbox.demo_app import create_demo_app

    sb = Sandbox(profile=args.profile)
    state_dir = Path(args.state_dir)
    creds = create_demo_app(sb, state_dir)
    tenants = [sb.add_generated_tenant(seed=args.seed + i, users=args.users) for i in range(args.tenants)]
    if args.consent != "none":
        from mailwarden.sandbox.demo_app import DEMO_CLIENT_ID

        for t in tenants:
            sb.grant_consent(t.id, DEMO_CLIENT_ID, args.consent)
    server = SandboxServer(sb, host=args.host, port=args.port, state_dir=state_dir).start()
    print(f"sandbox URL:      {server.url}")
    print(f"CA file:          {server.ca_file}")
    print(f"app credentials:  {creds}")
    for t in tenants:
        print(f"tenant:           {t.id}  {t.domain}  ({len(t.users)} users, cloud {t.cloud})")
    sys.stdout.flush()
    if not block:
        server.stop()
        return 0
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser("sandbox", help="the local Microsoft 365 sandbox tenant")
    ssub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    serve = ssub.add_parser("serve", help="serve sandbox tenants over TLS until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--tenants", type=int, default=1, help="how many generated tenants")
    serve.add_argument("--users", type=int, default=50, help="users per generated tenant")
    serve.add_argument("--seed", type=int, default=1, help="generator seed of the first tenant")
    serve.add_argument("--state-dir", default=".data/sandbox")
    serve.add_argument("--profile", choices=["fast", "realistic", "latency"], default="realistic")
    serve.add_argument("--consent", choices=["none", "basic", "advanced"], default="none",
                       help="pre-grant admin consent to the sandbox app")
    serve.set_defaults(func=_sandbox_serve)


_RUNNERS: dict[str, Any] = {}


def _add_runner(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo`` and ``serve`` live outside the core (they start Prefect); import them lazily."""

    def demo(args: argparse.Namespace) -> int:
        from deployments.demo import main as demo_main

        return demo_main(args.rest)

    def serve(args: argparse.Namespace) -> int:
        from deployments.serve import main as serve_main

        serve_main(args.rest)
        return 0

    _RUNNERS.update({"demo": demo, "serve": serve})
    for name, func, text in (
        ("demo", demo, "start everything locally and run the demo against the sandbox tenant"),
        ("serve", serve, "serve every deployment from one process"),
    ):
        parser = sub.add_parser(name, help=text, add_help=False)
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(func=func)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailwarden")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_sandbox(sub)
    _add_runner(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mailwarden`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] in ("demo", "serve"):  # their own parsers take the rest of the line
        args = argparse.Namespace(rest=argv[1:])
        return int(_RUNNERS[argv[0]](args))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
