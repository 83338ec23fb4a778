"""Great Expectations Data Docs that work offline: the site's CSS and JavaScript served from the project.

GX 1.x renders its pages with ``<link>``/``<script>`` tags pointing at public CDNs (Bootstrap, jQuery,
bootstrap-table, Font Awesome, Vega) and its logo at an S3 bucket: offline, the index shows two bare links and
the validation pages are unstyled. The same files, at the versions GX's templates name, are committed under
``great_expectations/data_docs_vendor/`` (see its README); :func:`make_offline` copies them into the site's
``static/vendor/`` and rewrites each page's CDN URLs to relative paths, so a page opens from a file share or
a laptop with nothing fetched. It runs after every Data Docs build (:mod:`covidsync.ingest.batch_gate`).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from covidsync import settings

# every CDN URL of GX 1.24's templates -> the file under data_docs_vendor/
CDN = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table/extensions/filter-control/bootstrap-table-filter-control.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega/vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker/bootstrap-datepicker.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker/bootstrap-datepicker.min.js"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "bootstrap-dark/bootstrap-prefers-dark.css"
    ),
}
# GX's logo from its S3 bucket (with a data-context query string) -> the copy GX ships in static/images/
_S3_IMAGE = re.compile(
    r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/([\w.-]+)(\?[^\"']*)?"
)
_STATIC_REF = re.compile(r"""((?:src|href)\s*=\s*["'])(?:\./|(?:\.\./)+)?static/""")
# a src/href that still leaves the machine (links in <a> to the web are fine: they are not fetched)
FETCHED = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["'](https?:)?//[^"']+["']""", re.I)


def vendor_dir() -> Path:
    """The committed assets (``COVIDSYNC_GX_VENDOR_DIR``, else ``<home>/great_expectations/data_docs_vendor``)."""
    value = os.environ.get("COVIDSYNC_GX_VENDOR_DIR")
    return Path(value) if value else settings.home() / "great_expectations" / "data_docs_vendor"


def _copy_assets(site: Path) -> Path:
    target = site / "static" / "vendor"
    source = vendor_dir()
    for path in source.rglob("*"):
        if path.is_dir() or path.name == "README.md":
            continue
        dest = target / path.relative_to(source)
        if dest.exists() and filecmp.cmp(path, dest, shallow=True):
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return target


def rewrite_page(page: Path, site: Path) -> bool:
    """Point one page's CDN URLs at ``static/vendor/`` (relative to the page); True when it changed."""
    text = page.read_text(encoding="utf-8")
    up = os.path.relpath(site, page.parent).replace(os.sep, "/")
    prefix = "" if up == "." else up + "/"
    new = text
    for url, local in CDN.items():
        new = new.replace(url, f"{prefix}static/vendor/{local}")
    new = _S3_IMAGE.sub(lambda m: f"{prefix}static/images/{m.group(1)}", new)
    # GX counts one level too few on validation pages (favicon.j2): every static/ reference from the page
    new = _STATIC_REF.sub(lambda m: f"{m.group(1)}{prefix}static/", new)
    if new == text:
        return False
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, page)
    return True


def make_offline(site: Path, pages: Iterable[Path] | None = None) -> int:
    """Copy the assets into ``site`` and rewrite ``pages`` (default: every page of the site; the index and
    the suites' pages always); returns the pages rewritten."""
    if not site.is_dir():
        return 0
    _copy_assets(site)
    if pages is None:
        chosen = list(site.rglob("*.html"))
    else:
        chosen = [site / "index.html", *(site / "expectations").glob("*.html"), *pages]
    return sum(rewrite_page(p, site) for p in dict.fromkeys(chosen) if p.is_file())


def fetched_urls(page: Path) -> list[str]:
    """The tags of ``page`` that would still fetch something from the network (for tests and checks)."""
    return FETCHED.findall(page.read_text(encoding="utf-8")) and [
        m.group(0) for m in FETCHED.finditer(page.read_text(encoding="utf-8"))
    ]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:60]


def page_names(profile: dict) -> tuple[str, str]:
    """A validation's run name (its page's folder in the site) and the data asset shown on the page, named
    after the dataset, the sender and the file: ``vaccinations-12345-file48-<file name>-<8 hex>`` and
    ``vaccinations from facility 12345, file 48 (<file name>)``. A dry run (no file id) says so."""
    import uuid

    dataset = profile.get("dataset") or "batch"
    facility = profile.get("facility_code") or "unknown"
    file_id = profile.get("file_id")
    name = profile.get("file_name") or profile.get("original_name")
    which = f"file{file_id}" if file_id else "dry-run"
    run_name = "-".join(p for p in (dataset, facility, which, _slug(name) if name else "") if p)
    asset = f"{dataset} from facility {facility}, " + (
        f"file {file_id}" if file_id else "a dry run (not loaded)"
    )
    if name:
        asset += f" ({name})"
    return f"{run_name}-{uuid.uuid4().hex[:8]}", asset


def site_dir(context, site_name: str) -> Path:
    """The folder of a Data Docs site of the project (``gx/uncommitted/data_docs/<site>``)."""
    return Path(context.root_directory) / "uncommitted" / "data_docs" / site_name
