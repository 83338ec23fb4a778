"""The ``covidsync`` command: operator actions, one sub-command module each.

Each module in ``COMMANDS`` defines ``register(subparsers)``, which adds its sub-command(s) and sets
``func`` on the parser to a callable taking the parsed ``argparse.Namespace`` and returning an exit code.
Modules are imported lazily so ``covidsync --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from covidsync.errors import CovidsyncError

COMMANDS = [
    "covidsync.cli.warehouse",  # covidsync warehouse start|stop|status|url
    "covidsync.cli.db",  # covidsync db upgrade|status
    "covidsync.cli.run",  # covidsync run <dag_id> [--date], covidsync airflow ...
    "covidsync.cli.demo",  # covidsync demo
    "covidsync.cli.files",  # covidsync files list|process|reprocess|release, covidsync validate
    "covidsync.cli.generate",  # covidsync generate, covidsync simulator
    "covidsync.cli.sources",  # covidsync sources add|list|pull (facility/lab APIs)
    "covidsync.cli.publish",  # covidsync publish run|status|override|prune|reconcile|check, covidsync consumer
    "covidsync.cli.status",  # covidsync review list|decide, covidsync explain, covidsync status build
]


class UserError(CovidsyncError):
    """An error in how a command was called; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covidsync",
        description="Operator actions for the covidsync pipeline (see README.md and docs/runbook.md).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CovidsyncError as exc:
        print(f"covidsync: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
