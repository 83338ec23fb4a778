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


def offline_text(text: str, page: Path, site: Path) -> str:
    """The HTML of a page that will be written at ``page`` with its CDN URLs pointed at ``static/vendor/``
    (relative to the page): what :func:`rewrite_page` writes, for a page rendered in memory and written once."""
    up = os.path.relpath(site, page.parent).replace(os.sep, "/")
    prefix = "" if up == "." else up + "/"
    new = text
    for url, local in CDN.items():
        new = new.replace(url, f"{prefix}static/vendor/{local}")
    new = _S3_IMAGE.sub(lambda m: f"{prefix}static/images/{m.group(1)}", new)
    # GX counts one level too few on validation pages (favicon.j2): every static/ reference from the page
    return _STATIC_REF.sub(lambda m: f"{m.group(1)}{prefix}static/", new)


def rewrite_page(page: Path, site: Path) -> bool:
    """Point one page's CDN URLs at ``static/vendor/`` (relative to the page); True when it changed."""
    text = page.read_text(encoding="utf-8")
    new = offline_text(text, page, site)
    if new == text:
        return False
    tmp = page.with_name(f".{page.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, page)
    return True


def make_offline(
    site: Path, pages: Iterable[Path] | None = None, *, assets: bool = True, site_pages: bool = True
) -> int:
    """Copy the assets into ``site`` and rewrite ``pages`` (default: every page of the site; the index and
    the suites' pages always, unless ``site_pages`` is False); returns the pages rewritten. ``assets=False``
    leaves the copying of the assets to a later call (a group's pages rendered one by one)."""
    if not site.is_dir():
        return 0
    if assets:
        _copy_assets(site)
    if pages is None:
        chosen = list(site.rglob("*.html"))
    elif site_pages:
        chosen = [site / "index.html", *(site / "expectations").glob("*.html"), *pages]
    else:
        chosen = list(pages)
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


# a stored validation result's link on the index (success, asset name, batch kwargs and spec) by its key:
# results are written once under their own run id and never change, so each is read once per process
_LINKS: dict[tuple, tuple] = {}


# a validation result's key by its stored tuple, and that key's own tuple: GX's index build parses every
# stored result's key twice (its store's and its page's, dateutil on the run time) and compares them by
# ``to_tuple()`` (strftime), on every build; a key's tuple never changes, so each is parsed once per process
_KEYS: dict[tuple, tuple] = {}
# a validation link's row of the index table as GX's view renders it (its cells' HTML), by the view's class
# and the link: GX's renderer builds every row's cells again and its view renders them through Jinja on
# every build, which grew with the site (a national day's 11 groups rendered 12,000 rows for 2,000 files)
_ROWS: dict[tuple, dict] = {}


def read_links_once(builder):
    """``builder`` (the site's GX ``DefaultSiteIndexBuilder``) with what its index build does for every
    stored result done once per result and process: the result's link read by :func:`_link` (GX
    deserialises every stored result, marshmallow, to find its success and asset name, so each group's
    update paid for every result stored before it: a national day's 2,000 files in groups of 200, 11,000
    results read for 2,000 pages), its key parsed once (:func:`_site_keys`) and its row of the index table
    rendered once (:func:`_rows_renderer`). The index page is GX's: the same template, the same rows."""
    from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder
    from great_expectations.render.renderer.site_index_page_renderer import SiteIndexPageRenderer
    from great_expectations.render.view import DefaultJinjaIndexPageView

    if type(builder) is DefaultSiteIndexBuilder:  # a site configured with another builder keeps its own
        builder._add_validations_to_index_links = lambda links, keys: _add_validation_links(
            builder, links, keys
        )
        builder._build_validation_and_profiling_result_site_keys = lambda clean: _site_keys(builder, clean)
        if type(builder.renderer_class) is SiteIndexPageRenderer and type(builder.view_class) is (
            DefaultJinjaIndexPageView
        ):
            builder.renderer_class = _rows_renderer(builder.view_class)()
    return builder


def _key(key_tuple: tuple) -> tuple:
    """(the ``ValidationResultIdentifier`` of a stored tuple, that key's ``to_tuple()``), once per process."""
    found = _KEYS.get(key_tuple)
    if found is None:
        from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

        key = ValidationResultIdentifier.from_tuple(key_tuple)
        found = _KEYS[key_tuple] = (key, key.to_tuple())
    return found


def _site_keys(builder, skip_and_clean_missing: bool) -> list:
    """``DefaultSiteIndexBuilder._build_validation_and_profiling_result_site_keys`` (GX 1.x) with each key
    parsed once (:func:`_key`) and compared by its tuple, as GX's keys compare (``DataContextKey.__eq__``)."""
    from great_expectations.data_context.store.store_backend import StoreBackend
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier
    from great_expectations.render.renderer.site_builder import FALSEY_YAML_STRINGS

    config = builder.site_section_builders_config
    validations, profiling = config.get("validations", "None"), config.get("profiling", "None")
    if not (
        (validations and validations not in FALSEY_YAML_STRINGS)
        or (profiling and profiling not in FALSEY_YAML_STRINGS)
    ):
        return []
    source = "validations" if validations and validations not in FALSEY_YAML_STRINGS else "profiling"
    store = builder.data_context.stores[config[source].get("source_store_name")]
    if store._use_fixed_length_key:  # not this project's stores: GX's own
        return type(builder)._build_validation_and_profiling_result_site_keys(builder, skip_and_clean_missing)
    sources = {_key(t)[1] for t in store._store_backend.list_keys() if t != StoreBackend.STORE_BACKEND_ID_KEY}
    pages = builder.target_store.store_backends[ValidationResultIdentifier]
    keys = []
    for t in pages.list_keys():
        key, own = _key(t)
        if skip_and_clean_missing and own not in sources:
            pages.remove_key(key)
        else:
            keys.append(key)
    return keys


def _rows_renderer(view):
    """GX's ``SiteIndexPageRenderer`` whose validation table takes each link's row from :data:`_ROWS`: the
    row GX's renderer makes for that link alone (``to_json_dict``, as the view receives the page), its cells
    rendered by ``view`` as GX's ``render_bootstrap_table_data`` renders them (``render_dict_values``, no
    index, no block id: a string template's HTML depends on its block alone, not on the page around it). A
    cell already HTML is left as it is by the view, so the page is the one GX renders."""
    from great_expectations.render.renderer.site_index_page_renderer import SiteIndexPageRenderer

    base = SiteIndexPageRenderer._generate_validation_results_link_table

    class _CachedRows(SiteIndexPageRenderer):
        @classmethod
        def _generate_validation_results_link_table(cls, index_links_dict):
            rows = []
            for link in index_links_dict.get("validations_links", []):
                which = (type(view), repr(link))
                row = _ROWS.get(which)
                if row is None:
                    (row,) = base({"validations_links": [link]}).to_json_dict()["table_data"]
                    view.render_dict_values({}, row)
                    _ROWS[which] = row
                rows.append(dict(row))
            table = base({"validations_links": []})
            table.table_data = rows
            return table

    return _CachedRows


def _link(store, key) -> tuple | None:
    """A stored result's index link, read from its JSON once per process."""
    import json

    cached = _LINKS.get(key.to_tuple())
    if cached is None:
        try:
            stored = json.loads(store._store_backend.get(key.to_tuple()))
        except Exception:  # noqa: BLE001 (GX's own build skips a result it cannot read, with a warning)
            return None
        meta = stored.get("meta") or {}
        kwargs, spec = meta.get("batch_kwargs") or {}, meta.get("batch_spec") or {}
        asset = (
            kwargs.get("data_asset_name")
            or spec.get("data_asset_name")
            or (meta.get("active_batch_definition") or {}).get("data_asset_name")
        )
        cached = _LINKS[key.to_tuple()] = (stored.get("success"), asset, kwargs, spec)
    return cached


def _add_validation_links(builder, links, site_keys) -> None:
    """``DefaultSiteIndexBuilder._add_validations_to_index_links`` (GX 1.x) with :func:`_link`."""
    import logging

    from great_expectations.render.renderer.site_builder import (
        FALSEY_YAML_STRINGS,
        resource_key_passes_run_name_filter,
    )

    config = builder.site_section_builders_config.get("validations", "None")
    if not config or config in FALSEY_YAML_STRINGS:
        return
    keys = sorted(
        (k for k in site_keys if resource_key_passes_run_name_filter(k, config["run_name_filter"])),
        key=lambda k: k.run_id.run_time,
        reverse=True,
    )
    if builder.validation_results_limit:
        keys = keys[: builder.validation_results_limit]
    store = builder.data_context.stores[builder.source_stores.get("validations")]
    for key in keys:
        found = _link(store, key)
        if found is None:
            logging.getLogger(__name__).warning("Validation result not found: %s - skipping", key.to_tuple())
            continue
        success, asset, kwargs, spec = found
        builder.add_resource_info_to_index_links_dict(
            index_links_dict=links,
            expectation_suite_name=key.expectation_suite_identifier.name,
            section_name="validations",
            batch_identifier=key.batch_identifier,
            run_id=key.run_id,
            validation_success=success,
            run_time=key.run_id.run_time,
            run_name=key.run_id.run_name,
            asset_name=asset,
            batch_kwargs=kwargs,
            batch_spec=spec,
        )
