"""``covidsync generate`` (sample data with ground truth) and ``covidsync simulator`` (facility API).

See docs/sample-data.md. Imports happen inside the commands so that ``covidsync --help`` stays fast.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    gen = sub.add_parser(
        "generate",
        help="write realistic Hòa Bình sample data (landing zone, API data, ground truth)",
        description="Deterministic: the same arguments give the same bytes in every file.",
    )
    gen.add_argument("--out", required=True, help="directory: landing/, api/ and truth/ are written under it")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--persons", type=int, default=1000)
    gen.add_argument("--days", type=int, default=3, help="simulated days of daily files")
    gen.add_argument("--start", default="2021-11-01", help="first simulated day (yyyy-mm-dd)")
    rate = gen.add_mutually_exclusive_group()
    rate.add_argument(
        "--defect-rate", type=float, default=0.03, help="share of rows given a defect (default 0.03)"
    )
    rate.add_argument("--clean", action="store_true", help="no injected defects and no bad files")
    gen.add_argument("--checkins-per-day", type=int, default=None, help="default: 2 × persons")
    gen.add_argument("--facilities", type=int, default=12, help="facilities in the registry (at least 6)")
    gen.add_argument("--venues", type=int, default=None, help="default: persons / 15, at least 20")
    gen.add_argument(
        "--bomb-mb", type=int, default=600, help="uncompressed MiB of the file_too_large XLSX (cap: 512 MiB)"
    )
    gen.add_argument(
        "--only",
        choices=("checkins", "vaccinations", "test_results"),
        help="write just one big file of this dataset (benchmarks); with --rows and --format",
    )
    gen.add_argument("--rows", type=int, default=100_000, help="rows of the --only file")
    gen.add_argument(
        "--format", choices=("csv", "jsonl", "json", "xlsx"), default="csv", help="format of the --only file"
    )
    gen.add_argument(
        "--arrivals",
        action="store_true",
        help="also arrivals into the province: checkpoints, declarations, risk levels (truth/arrivals.csv)",
    )
    gen.add_argument("--quiet", action="store_true")
    gen.set_defaults(func=run_generate)

    sim = sub.add_parser(
        "simulator",
        help="serve generated API data like a facility/lab system (contract §8), with failures on demand",
    )
    sim.add_argument(
        "--data", required=True, help="a directory written by `covidsync generate` (uses its api/)"
    )
    sim.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--token", default="sample-token")
    sim.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="JSON",
        help='a failure to serve first, e.g. \'{"mode": "rate_limit", "count": 2, "retry_after": 1}\'',
    )
    sim.set_defaults(func=run_simulator)


def run_generate(args: argparse.Namespace) -> int:
    import datetime as dt
    import json
    import time
    from pathlib import Path

    from covidsync.cli import UserError
    from covidsync.sample.generator import Options, generate

    try:
        start = dt.date.fromisoformat(args.start)
    except ValueError:
        raise UserError(f"--start must be yyyy-mm-dd, not {args.start!r}") from None
    if args.persons < 10 or args.days < 1:
        raise UserError("--persons must be at least 10 and --days at least 1")
    if args.defect_rate < 0 or args.defect_rate > 1:
        raise UserError("--defect-rate must be between 0 and 1")
    options = Options(
        out=Path(args.out),
        seed=args.seed,
        persons=args.persons,
        days=args.days,
        start=start,
        defect_rate=args.defect_rate,
        clean=args.clean,
        checkins_per_day=args.checkins_per_day,
        facilities=args.facilities,
        venues=args.venues,
        bomb_mb=args.bomb_mb,
        only=args.only,
        rows=args.rows,
        format=args.format,
        arrivals=args.arrivals,
    )
    began = time.perf_counter()
    summary = generate(options)
    elapsed = time.perf_counter() - began
    if not args.quiet:
        rows = summary.get("rows", {})
        total = sum(rows.values())
        print(json.dumps({"rows": rows, "files": summary.get("files")}, ensure_ascii=False, default=str))
        print(
            f"wrote {total} rows in {elapsed:.1f} s ({total / max(elapsed, 1e-9):,.0f} rows/s) under {args.out}"
        )
    return 0


def run_simulator(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from covidsync.cli import UserError
    from covidsync.sample.simulator import Simulator

    failures = []
    for text in args.fail:
        try:
            failures.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError(f"--fail is not JSON: {exc}") from None
    if not (Path(args.data) / "api").is_dir():
        raise UserError(f"{args.data}/api does not exist: run `covidsync generate --out {args.data}` first")
    sim = Simulator(Path(args.data), token=args.token, host=args.host, port=args.port, failures=failures)
    sim.start()
    print(f"facility API simulator on {sim.url}  (token {args.token!r}; Ctrl-C stops)")
    for facility, datasets in sorted(sim.catalogue().items()):
        for dataset in datasets:
            print(f"  {sim.base_url(facility)}/{dataset}")
    print(f"  control: POST {sim.url}/_control")
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
