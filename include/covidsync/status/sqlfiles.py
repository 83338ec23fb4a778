"""The SQL of ``sql/status/``, read once per process."""

from __future__ import annotations

from functools import lru_cache

from covidsync import settings


@lru_cache(maxsize=64)
def _text(directory: str, name: str) -> str:
    from pathlib import Path

    return (Path(directory) / f"{name}.sql").read_text(encoding="utf-8")


def sql(name: str) -> str:
    return _text(str(settings.sql_dir() / "status"), name)
