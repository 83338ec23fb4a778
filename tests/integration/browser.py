"""Headless Chromium for the tests that look at a page (the daily report, its sections): Chromium is part of
the test environment (.ci/run installs Debian's `chromium`); a missing browser fails, never skips."""

from __future__ import annotations

import os
import shutil
import subprocess


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed for this test: apt-get install chromium (.ci/run does)"
    return found


def headless(*args: str, tmp_path) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    return subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HOME": str(tmp_path)},
    )
