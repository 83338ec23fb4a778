"""Errors an operator can act on: the CLI prints their message (no traceback) and exits 2."""


class CovidsyncError(Exception):
    """Base class: the message says what is wrong and what to do, without personal data."""
