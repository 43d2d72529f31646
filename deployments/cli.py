"""``mailwarden`` command line: a small dispatcher of subcommands.

Add a subcommand by writing ``_add_<name>(subparsers)`` that sets ``func`` on its parser and
calling it from :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

_RUNNERS: dict[str, Any] = {}


def _add_runner(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``demo`` and ``serve`` start Prefect: import them only when asked for."""

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
