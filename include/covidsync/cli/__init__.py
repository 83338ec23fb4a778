"""The ``covidsync`` command: operator actions, one sub-command module each.

Each module in ``COMMANDS`` defines ``register(subparsers)``, which adds its sub-command(s) and sets
``func`` on the parser to a callable taking the parsed ``argparse.Namespace`` and returning an exit code.
Modules are imported lazily so ``covidsync --help`` stays fast.

A user never meets a traceback for a foreseeable condition (a bad argument, a missing file, the warehouse
or the sync API down, an interrupted command): :func:`describe` turns it into one line saying what happened
and what to do, printed on stderr with a non-zero exit code. ``--debug`` (anywhere on the command line, or
``COVIDSYNC_DEBUG=1``) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

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
    "covidsync.cli.communes",  # covidsync communes grant|revoke|list|worklists (issue 24)
    "covidsync.cli.docs",  # covidsync docs build|prune (the Data Docs site)
]


class UserError(CovidsyncError):
    """An error in how a command was called; printed without a traceback, exit code 2."""


def local_day(value: str):
    """An argparse type: a local day written YYYY-MM-DD."""
    import datetime as dt

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a day as YYYY-MM-DD, not {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="covidsync",
        description="Operator actions for the covidsync pipeline (see README.md and docs/runbook.md).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error (also COVIDSYNC_DEBUG=1)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def _first_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split("\n")[0].split()) or type(exc).__name__
    return text[:300]


def describe(exc: BaseException) -> tuple[str, int] | None:
    """One line for a foreseeable condition, and the exit code; ``None`` for a bug (shown as a traceback)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", 130
    if isinstance(exc, CovidsyncError):
        if type(exc).__name__ == "WarehouseUnreachable":
            return f"{exc}; start it with `make warehouse`, or check COVIDSYNC_WAREHOUSE_URL", 2
        return str(exc), 2
    module = type(exc).__module__ or ""
    name = type(exc).__name__
    if name == "OperationalError" and module.split(".")[0] in ("psycopg2", "psycopg", "sqlalchemy"):
        return (
            f"the warehouse did not answer ({_first_line(exc)}); start it with `make warehouse` "
            "or check COVIDSYNC_WAREHOUSE_URL",
            1,
        )
    if module.split(".")[0] == "requests":
        import requests

        url = getattr(getattr(exc, "request", None), "url", None) or ""
        where = f" {url}" if url else ""
        if isinstance(exc, requests.ConnectionError):
            return (
                f"could not connect to{where}: the service is not running or the address is wrong "
                "(the sync API is served by Airflow's API server: `make airflow`; or give --api)",
                1,
            )
        if isinstance(exc, requests.Timeout):
            return f"no answer in time from{where}; try again later or raise the timeout", 1
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return f"the server answered {exc.response.status_code} {exc.response.reason} for{where}", 1
        return f"the request to{where} failed: {_first_line(exc)}", 1
    if isinstance(exc, FileNotFoundError):
        return f"no such file or directory: {exc.filename or _first_line(exc)}", 1
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or _first_line(exc)}", 1
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return f"{exc.strerror}: {exc.filename}", 1
    if isinstance(exc, UnicodeDecodeError):
        return f"the input is not text in the expected encoding ({_first_line(exc)})", 1
    return None


def _wants_debug(argv: list[str]) -> tuple[bool, list[str]]:
    """``--debug`` may stand anywhere before a ``covidsync airflow`` command's own arguments."""
    cut = argv.index("airflow") if "airflow" in argv else len(argv)
    head, tail = argv[:cut], argv[cut:]
    debug = "--debug" in head or os.environ.get("COVIDSYNC_DEBUG", "") not in ("", "0")
    return debug, [a for a in head if a != "--debug"] + tail


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug, argv = _wants_debug(argv)
    try:
        if argv[:1] == ["airflow"]:
            # everything after `airflow` is the airflow command's own (`covidsync airflow --help` included)
            from covidsync.cli.run import airflow

            return int(airflow(argparse.Namespace(args=argv[1:], debug=debug)) or 0)
        parser = build_parser()
        args = parser.parse_args(argv)
        args.debug = debug
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 (the one top-level handler: describe() sorts)
        found = describe(exc)
        if debug or found is None:
            traceback.print_exc()
            if found is None:
                return 1
        message, code = found
        hint = "" if debug else " (--debug shows the details)"
        print(f"covidsync: {message}{hint}" if code != 2 else f"covidsync: {message}", file=sys.stderr)
        return code
