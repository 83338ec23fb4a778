"""The datasets the ingest engine knows: one module per dataset, each defining ``SPEC``
(a :class:`covidsync.ingest.spec.DatasetSpec`). A module here is a dataset; nothing else is registered."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from covidsync.ingest.spec import DatasetSpec


@cache
def specs() -> dict[str, DatasetSpec]:
    """Every dataset's spec by name (the landing folder's dataset name)."""
    found: dict[str, DatasetSpec] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        spec = importlib.import_module(f"{__name__}.{info.name}").SPEC
        if spec.name in found:
            raise AssertionError(f"two specs for dataset {spec.name}")
        found[spec.name] = spec
    return found


def spec(dataset: str) -> DatasetSpec:
    try:
        return specs()[dataset]
    except KeyError:
        raise KeyError(f"no ingest spec for dataset {dataset!r}; expected one of {sorted(specs())}") from None
