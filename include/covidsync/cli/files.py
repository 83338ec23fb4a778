"""``covidsync files ...`` and ``covidsync validate``: operator actions on landing files.

* ``files list [--status S] [--facility F]``: the files and what became of them;
* ``files process ID``: take one registered file through the pipeline now (what the DAG's mapped task does);
* ``files reprocess ID --reason R``: put a finished file back in the landing zone to be loaded again;
* ``files release ID --reason R``: merge a held file's loadable rows, the reason recorded;
* ``validate FILE --facility F --dataset D [--data-docs]``: the dry run a facility can use before sending:
  the same parser, rules and gate in a scratch database that is dropped afterwards; prints the report, loads
  nothing and writes nothing shared: the gate runs on a temporary copy of the GX project, and its Data Docs
  (with ``--data-docs`` only) stay in that temporary folder, whose index is printed.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path


def register(sub) -> None:
    files = sub.add_parser("files", help="list, process, reprocess or release landing files")
    actions = files.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="the files and their status")
    listing.add_argument("--status")
    listing.add_argument("--facility")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=list_files)

    process = actions.add_parser("process", help="take one registered file through the pipeline now")
    process.add_argument("file_id", type=int)
    process.set_defaults(func=process_file)

    for name, helptext in (
        ("reprocess", "put a finished file back in the landing zone to be loaded again"),
        ("release", "merge a held file's loadable rows"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("file_id", type=int)
        action.add_argument("--reason", required=True, help="recorded with the file's history")
        action.add_argument("--actor", default=None, help="who does this (default: your user name)")
        action.set_defaults(func=reprocess_file if name == "reprocess" else release_file)

    validate = sub.add_parser(
        "validate", help="dry-run a file against the contract: prints the report, loads nothing"
    )
    validate.add_argument("file", type=Path)
    validate.add_argument("--facility", required=True, help="the 5-digit facility code of the sender")
    validate.add_argument("--dataset", required=True, choices=["vaccinations", "test_results"])
    validate.add_argument("--out", type=Path, help="also write <file>.result.json and .errors.csv here")
    validate.add_argument(
        "--data-docs",
        action="store_true",
        help="also render the gate's Data Docs page, in a temporary folder (printed), not the shared site",
    )
    validate.set_defaults(func=validate_file)


def _connect():
    from covidsync import db, warehouse

    return db.connect(warehouse.resolve_url(start=True))


def list_files(args) -> int:
    conn = _connect()
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                select file_id, status, coalesce(facility_code, '-'), coalesce(dataset, '-'), relative_path,
                       coalesce(rows_total, 0), coalesce(rows_loaded, 0), coalesce(rows_rejected, 0),
                       array_to_string(file_codes, ','), to_char(received_at at time zone 'Asia/Ho_Chi_Minh', 'YYYY-MM-DD HH24:MI')
                from ops.landing_file
                where (%(status)s::text is null or status = %(status)s)
                  and (%(facility)s::text is null or facility_code = %(facility)s)
                order by file_id desc
                limit %(limit)s
                """,
                {"status": args.status, "facility": args.facility, "limit": args.limit},
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    print(
        f"{'id':>6} {'status':<10} {'facility':<8} {'dataset':<13} {'rows':>7} {'loaded':>7} {'rejected':>8}  "
        "received (local)  codes / file"
    )
    for fid, status, facility, dataset, path, total, loaded, rejected, codes, received in rows:
        print(
            f"{fid:>6} {status:<10} {facility:<8} {dataset:<13} {total:>7} {loaded:>7} {rejected:>8}  "
            f"{received}  {codes + ' ' if codes else ''}{path}"
        )
    if any(row[1] == "held" for row in rows):
        print(
            "\nheld: nothing of the file was loaded (the batch gate, batch_rejected); the sender's result.json "
            "says status 'rejected' with batch_rejected. `covidsync files release ID --reason R` loads its "
            "valid rows, or the sender sends a corrected file."
        )
    return 0


def process_file(args) -> int:
    from covidsync.ingest import pipeline

    conn = _connect()
    try:
        if pipeline.load_file(conn, args.file_id).facility_code == "pccovid":
            from covidsync.ingest import checkins

            conn.rollback()
            print(json.dumps(checkins.ingest_file(conn, args.file_id)))
        else:
            conn.rollback()
            print(json.dumps(pipeline.process_file(conn, args.file_id)))
    finally:
        conn.close()
    return 0


def _actor(args) -> str:
    return args.actor or os.environ.get("USER") or getpass.getuser()


def reprocess_file(args) -> int:
    from covidsync.ingest import pipeline

    conn = _connect()
    try:
        pipeline.reprocess(conn, args.file_id, args.reason, _actor(args))
    finally:
        conn.close()
    print(
        f"file {args.file_id} is back in the landing zone as received; the next ingest run loads it "
        f"(or now: covidsync files process {args.file_id})"
    )
    return 0


def release_file(args) -> int:
    from covidsync.ingest import pipeline

    conn = _connect()
    try:
        print(json.dumps(pipeline.release(conn, args.file_id, args.reason, _actor(args))))
    finally:
        conn.close()
    return 0


def validate_file(args) -> int:
    from covidsync.cli import UserError
    from covidsync.ingest.validate import dry_run

    if not args.file.is_file():
        raise UserError(f"{args.file} is not a file")
    result, problems, docs = _dry_run_apart(args, dry_run)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if problems:
        print()
        from covidsync import textsafe

        writer = textsafe.writer(sys.stdout)  # issue 17: formula-like cells neutralised
        writer.writerow(("row_number", "column", "code", "severity", "message_vi", "message_en"))
        writer.writerows(problems)
    if docs:
        print(
            f"\nData Docs of this dry run (a temporary folder, not the shared site): {docs}", file=sys.stderr
        )
    return 0 if result["status"] in ("loaded", "loaded_with_errors") else 1


def _dry_run_apart(args, dry_run):
    """The dry run on a temporary copy of the GX project, so nothing shared is written (validation results,
    Data Docs); the copy is removed afterwards unless ``--data-docs`` asked for its pages."""
    import shutil
    import tempfile

    from covidsync.ingest import batch_gate

    scratch = Path(tempfile.mkdtemp(prefix="covidsync-validate-"))
    project = scratch / "great_expectations"
    shutil.copytree(batch_gate.project_dir(), project, ignore=shutil.ignore_patterns("uncommitted"))
    saved = {k: os.environ.get(k) for k in ("COVIDSYNC_GX_DIR", "COVIDSYNC_GX_DOCS")}
    os.environ["COVIDSYNC_GX_DIR"] = str(project)
    os.environ["COVIDSYNC_GX_DOCS"] = "1" if args.data_docs else "0"
    try:
        result, problems = dry_run(args.file, args.facility, args.dataset, out=args.out)
        if args.data_docs:
            return result, problems, batch_gate.build_data_docs(validation_pages=False)
        return result, problems, None
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not args.data_docs:
            shutil.rmtree(scratch, ignore_errors=True)
