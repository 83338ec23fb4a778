"""Issue 16, memory flat: the rules step reads the values as sent of the flagged rows from the spill one
batch at a time. Given the spill's path, pyarrow mapped the whole file into the process: a 1.5M-row file's
rules step peaked at 635 MB (the bench, 7 December 2026). A child process reads a ~150 MB spill for a few
rows and must not grow by more than a fraction of it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import polars as pl

    from covidsync.ingest import columnar
    from covidsync.ingest.datasets import vaccinations

    spec = vaccinations.SPEC
    names = [c.name for c in spec.columns]
    spill = Path(sys.argv[1])
    with columnar._SpillWriter(spill) as writer:
        for b in range(24):
            start = b * 25_000 + 1
            frame = pl.DataFrame({"row_number": pl.int_range(start, start + 25_000, eager=True)}).with_columns(
                *(pl.format("{}-{}-xxxxxxxxxxxxxxxx", pl.col("row_number"), pl.lit(n)).alias(n) for n in names)
            )
            writer.write(frame)

    def peak_mb():
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) // 1024

    before = peak_mb()
    got = columnar.raw_of_rows(spec, [7, 300_001, 599_999], spill)
    print(spill.stat().st_size // 2**20, before, peak_mb(), got.height)
    """
)


def test_reading_the_flagged_rows_from_a_spill_does_not_hold_the_spill(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "spill.arrows")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    size, before, after, found = map(int, out)
    assert found == 3
    assert size > 120, size  # the spill is big enough for a mapping to show
    assert after - before < size // 3, (size, before, after)
