"""``m365-sandbox`` command line: serve generated sandbox tenants over TLS until interrupted."""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from m365sandbox import Sandbox, SandboxServer
from m365sandbox.demo_app import DEMO_CLIENT_ID, create_demo_app


def serve(args: argparse.Namespace, *, block: bool = True) -> int:
    """Generate ``args.tenants`` tenants, register the demo app, serve; print what a client needs."""
    sb = Sandbox(profile=args.profile)
    state_dir = Path(args.state_dir)
    creds = create_demo_app(sb, state_dir)
    tenants = [sb.add_generated_tenant(seed=args.seed + i, users=args.users) for i in range(args.tenants)]
    if args.consent != "none":
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="m365-sandbox", description="a local Microsoft 365 tenant")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve sandbox tenants over TLS until interrupted")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--tenants", type=int, default=1, help="how many generated tenants")
    p.add_argument("--users", type=int, default=50, help="users per generated tenant")
    p.add_argument("--seed", type=int, default=1, help="generator seed of the first tenant")
    p.add_argument("--state-dir", default=".data/sandbox")
    p.add_argument("--profile", choices=["fast", "realistic", "latency"], default="realistic")
    p.add_argument("--consent", choices=["none", "basic", "advanced"], default="none",
                   help="pre-grant admin consent to the sandbox app")
    p.set_defaults(func=serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``m365-sandbox`` script."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
