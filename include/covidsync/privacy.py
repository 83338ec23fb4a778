"""Pseudonymous keys: the same keyed hash in Python and in SQL, so that personal identifiers can be joined
without being stored or shown where they must not be (core check-ins, marts, logs).

``pseudonym("cccd", "017080123456")`` is HMAC-SHA256, under the key ``COVIDSYNC_PSEUDONYM_KEY``, of
``"cccd:017080123456"``, as 64 hex digits. In SQL the same value is
``encode(sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(<kind> || ':' || <value>, 'UTF8'))), 'hex')``
(:data:`SQL_PSEUDONYM` with ``{kind}`` and ``{value}`` filled in), with :func:`sql_params` supplying the two
padded keys: HMAC written out with the built-in ``sha256()``, because the embedded server has no pgcrypto.

The key is a secret of the deployment: without it a 12-digit CCCD could be found from its hash by trying
them all. When ``COVIDSYNC_PSEUDONYM_KEY`` is unset, a fixed development key is used and a warning logged
once; a production deployment must set it (docker compose reads it from ``.env``). Changing the key changes
every pseudonym: rebuild the derived and mart layers after rotating it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os

log = logging.getLogger(__name__)

DEVELOPMENT_KEY = "covidsync-development-key-not-for-production"
KINDS = ("cccd", "cmnd", "qid", "phone", "person")
_BLOCK = 64  # SHA-256 block size in bytes
_warned = False

SQL_PSEUDONYM = "encode(sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to({kind} || ':' || {value}, 'UTF8'))), 'hex')"


def key() -> bytes:
    global _warned
    value = os.environ.get("COVIDSYNC_PSEUDONYM_KEY", "")
    if not value:
        if not _warned:
            log.warning("COVIDSYNC_PSEUDONYM_KEY is unset: using the development key (never in production)")
            _warned = True
        value = DEVELOPMENT_KEY
    return value.encode("utf-8")


def pseudonym(kind: str, value: str) -> str:
    """The pseudonymous key of one identifier (``kind`` one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return hmac.new(key(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def sql_params() -> dict[str, bytes]:
    """The inner and outer padded keys for :data:`SQL_PSEUDONYM` (pass as query parameters, never log)."""
    k = key()
    if len(k) > _BLOCK:
        k = hashlib.sha256(k).digest()
    k = k.ljust(_BLOCK, b"\0")
    return {
        "hmac_ikey": bytes(b ^ 0x36 for b in k),
        "hmac_okey": bytes(b ^ 0x5C for b in k),
    }


def sql_pseudonym(kind_sql: str, value_sql: str) -> str:
    """The SQL expression for the pseudonym of ``value_sql`` (an SQL expression) of kind ``kind_sql``."""
    return SQL_PSEUDONYM.format(kind=kind_sql, value=value_sql)
