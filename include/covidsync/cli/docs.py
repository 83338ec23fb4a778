"""``covidsync docs build|prune``: the Great Expectations site (Data Docs) of the gated files.

* ``docs build``: the suites' pages and the index again (each file's gate already rendered its own page);
  prints the index's path, to open in a browser;
* ``docs prune [--date D] [--keep-days N]``: removes the validation results and pages of runs older than
  ``N`` days before ``D`` (``COVIDSYNC_GX_RETENTION_DAYS``, default 30; the evening monitoring DAG does it
  each day). The gates' outcomes stay in ``ops.validation_result`` and in each facility's ``result.json``.
"""

from __future__ import annotations

import datetime as dt

from covidsync.cli import UserError, local_day


def register(sub) -> None:
    docs = sub.add_parser("docs", help="the Data Docs site of the gated files: build, prune")
    actions = docs.add_subparsers(dest="action", metavar="ACTION", required=True)
    building = actions.add_parser("build", help="the suites' pages and the index again; prints the index")
    building.set_defaults(func=build)
    pruning = actions.add_parser("prune", help="remove results and pages older than the retention")
    pruning.add_argument("--date", type=local_day, help="the day counted back from (default: today)")
    pruning.add_argument(
        "--keep-days",
        type=int,
        default=None,
        help="days kept (default COVIDSYNC_GX_RETENTION_DAYS, else 30; 0 keeps everything)",
    )
    pruning.set_defaults(func=prune)


def build(args) -> int:
    from covidsync.ingest import batch_gate

    print(batch_gate.build_data_docs(validation_pages=False))
    return 0


def prune(args) -> int:
    from covidsync import gx_retention

    if args.keep_days is not None and args.keep_days < 0:
        raise UserError("--keep-days is a number of days, 0 or more (0 keeps everything)")
    done = gx_retention.prune(args.date or dt.date.today(), days=args.keep_days)
    if done["cutoff"] is None:
        print("retention is 0 days: every validation result and page is kept")
    else:
        print(
            f"removed {done['runs_removed']} validation run(s) and {done['pages_removed']} page(s) "
            f"from before {done['cutoff']}"
        )
    return 0
