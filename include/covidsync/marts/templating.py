"""The daily report's HTML templates (``covidsync/marts/templates/``, shipped as package data): one Jinja2
environment with autoescape on, so that every value a template prints (a facility code, a commune name, an
alert message) is escaped unless it is already :class:`markupsafe.Markup` (a chart, a section's body)."""

from __future__ import annotations

import functools

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def thousands(value) -> str:
    """``12345`` -> ``12,345`` (the report's number format)."""
    return f"{value:,}"


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("covidsync.marts", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the render, it does not print nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["thousands"] = thousands
    return env


def render(name: str, **context) -> Markup:
    """Render ``templates/<name>``; the result is safe HTML to place in another template."""
    return Markup(environment().get_template(name).render(**context))
