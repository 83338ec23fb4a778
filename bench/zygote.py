"""The measuring process: imports once, then forks one child per step and reports the child's own usage.

The runner starts ``python -m bench.zygote`` and writes one JSON request per line to its stdin
(``{"stage": ..., "params": {...}, "result": "<path>"}``). For each request the zygote forks; the child runs
the stage (:func:`bench.stages.run_in_child`), writes its result to the given path and exits; the zygote
reaps it with :func:`os.wait4`, which gives that one child's ``ru_maxrss`` (its peak resident memory,
KiB on Linux) and CPU times, and answers with one JSON line on its protocol pipe.

Why fork from a warm process rather than start a new interpreter per step: importing Great Expectations
takes 5–15 s here, and a facility-file task imports it anyway (the gate runs in the same task process as
parse and merge). So every child starts with what such a task process holds (covidsync, psycopg2,
pandas, GX and its project context) and its peak RSS is what a task would see. The zygote's own RSS after
the imports is reported beside the results (``baseline_rss_mb``): the part of every peak that is the
imports, not the rows.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys


def _preload() -> dict:
    import psycopg2  # noqa: F401

    import bench.stages  # noqa: F401  (registers the stages)
    from bench.stages import preload

    preload()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"baseline_rss_mb": usage.ru_maxrss / 1024}


def main() -> int:
    # the protocol goes over a private copy of stdout; anything a library prints goes to stderr
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    protocol.write(json.dumps({"ready": True, **_preload()}) + "\n")
    current: list[int] = []

    def stop(signum, frame):  # the runner was stopped: take the step being measured down with us
        for pid in current:
            os.kill(pid, signal.SIGKILL)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:  # the child: run the step, write its result, never return into this loop
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            code = 1
            try:
                from bench.stages import run_in_child

                code = run_in_child(request["stage"], request["params"], request["result"])
            finally:
                sys.stderr.flush()
                os._exit(code)
        current[:] = [pid]
        _, status, usage = os.wait4(pid, 0)
        current.clear()
        protocol.write(
            json.dumps(
                {
                    "exit_code": os.waitstatus_to_exitcode(status),
                    "max_rss_mb": usage.ru_maxrss / 1024,
                    "user_s": usage.ru_utime,
                    "system_s": usage.ru_stime,
                }
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
