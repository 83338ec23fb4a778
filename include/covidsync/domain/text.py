"""Vietnamese text helpers: NFC normalisation, name match keys, diacritics checks, masking.

Background: domain notes §8.1 (NFC vs NFD, tone placement ``Hoà``/``Hòa``, ``đ`` has no decomposition,
legacy ``Ð`` U+00D0) and §8.3 (name keys). Contract §2: every text value is NFC and trimmed.

Decisions where the contract is silent:

* :func:`nfc` also removes a byte-order mark and zero-width characters at either end (spreadsheet and
  copy-paste debris), besides the whitespace ``str.strip`` removes (which includes no-break spaces).
* :func:`name_key` keeps punctuation such as ``-`` or ``'`` (only case, marks, ``đ`` and spacing are folded).
* :func:`mask` shows values of ``keep`` characters or fewer unchanged (there is nothing left to hide).
* :func:`normalize_gender` (addition) reads the contract's gender words: Nam/Nữ, male/female, M/F; with
  or without accents, any case.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "VIETNAMESE_DIACRITIC_LETTERS",
    "has_vietnamese_diacritics",
    "mask",
    "name_key",
    "name_without_diacritics",
    "nfc",
    "normalize_gender",
]

# Invisible characters that survive str.strip(): BOM, zero-width space/joiners, word joiner.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_WS_RUN = re.compile(r"\s+")

# d-like letters that have no Unicode decomposition: đ (U+0111), and ð (U+00F0, casefold of the
# Icelandic Eth U+00D0 that legacy converters emit instead of Đ). Applied after casefold.
_D_MAP = str.maketrans({"\u0111": "d", "\u00f0": "d"})


def _build_vietnamese_letters() -> frozenset[str]:
    """The 67 lower-case Vietnamese letters that carry a diacritic, plus their upper case (134)."""
    bases = "aăâeêioôơuưy"
    tones = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # none, huyền, sắc, hỏi, ngã, nặng
    letters: set[str] = set()
    for base in bases:
        for tone in tones:
            letter = unicodedata.normalize("NFC", base + tone)
            if letter.isascii():
                continue
            letters.add(letter)
            letters.add(letter.upper())
    letters.update({"đ", "Đ", "\u00d0"})  # Đ and the legacy Eth look-alike
    return frozenset(letters)


VIETNAMESE_DIACRITIC_LETTERS: frozenset[str] = _build_vietnamese_letters()


def nfc(value: str | None) -> str | None:
    """Unicode NFC, surrounding whitespace (and BOM/zero-width characters) removed; ``None``/empty → ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        value = unicodedata.normalize("NFC", value).strip().strip(_INVISIBLE).strip()
    else:
        value = value.strip()
    return value or None


@lru_cache(maxsize=131072)
def _name_key(value: str) -> str:
    folded = unicodedata.normalize("NFC", value).casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_D_MAP)
    return _WS_RUN.sub(" ", folded).strip()


def name_key(value: str | None) -> str:
    """Match key for names: NFC → casefold → strip combining marks → đ/Đ/Ð → d → one space between words.

    ``"Nguyễn Thị Hòa"``, ``"NGUYEN  THI HOA"``, the NFD form and ``"Nguyễn Thị Hoà"`` all give
    ``"nguyen thi hoa"``. ``None`` gives ``""``.
    """
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    return _name_key(value)


def has_vietnamese_diacritics(value: str | None) -> bool:
    """True when the text contains a Vietnamese letter with a diacritic (ă â đ ê ô ơ ư or a tone mark).

    NFD input counts too (it is normalised to NFC first).
    """
    if not value:
        return False
    if value.isascii():
        return False
    text = unicodedata.normalize("NFC", value)
    return any(ch in VIETNAMESE_DIACRITIC_LETTERS for ch in text)


def name_without_diacritics(name: str | None) -> bool:
    """True when a name has letters but none outside ASCII (contract warning ``name_without_diacritics``).

    ``"NGUYEN VAN A"`` → True; ``"Nguyễn Văn A"`` → False; ``""``/``None``/``"123"`` → False.
    """
    if not name:
        return False
    if name.isascii():
        return any(ch.isalpha() for ch in name)
    has_letter = False
    for ch in unicodedata.normalize("NFC", name):
        if ch.isascii():
            has_letter = has_letter or ch.isalpha()
        elif ch.isalpha() or unicodedata.combining(ch):
            return False
    return has_letter


def mask(value: object, keep: int = 4) -> str:
    """All but the last ``keep`` characters replaced by ``*`` (for reports and logs); ``None`` → ``""``."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    keep = max(keep, 0)
    hidden = len(text) - keep
    if hidden <= 0:
        return text
    return "*" * hidden + (text[hidden:] if keep else "")


_GENDERS = {
    "nam": "male",
    "male": "male",
    "m": "male",
    "nam gioi": "male",
    "nu": "female",
    "female": "female",
    "f": "female",
    "nu gioi": "female",
}


def normalize_gender(value: str | None) -> str | None:
    """``"male"``/``"female"`` for Nam/Nữ, male/female, M/F (any case, with or without accents), else None."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    return _GENDERS.get(name_key(value))
