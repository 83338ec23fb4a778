"""Pure-Python domain rules for Vietnamese COVID-19 data (no database, no Airflow, no pandas).

Modules:

* :mod:`covidsync.domain.codes` — row and file codes of the facility contract (§6) with their messages.
* :mod:`covidsync.domain.text` — Unicode normalisation, name match keys, masking, gender words.
* :mod:`covidsync.domain.cccd` — 12-digit CCCD numbers (province, sex, birth year), legacy 9-digit CMND.
* :mod:`covidsync.domain.phone` — Vietnamese mobile numbers (``+84``, pre-2018 11-digit numbers).
* :mod:`covidsync.domain.dates` — day-first dates, Excel serials, date-times in Asia/Ho_Chi_Minh.
* :mod:`covidsync.domain.vaccines` — vaccine products, spellings, minimum dose intervals.
* :mod:`covidsync.domain.admin` — GSO administrative codes (Hòa Bình reference list).
* :mod:`covidsync.domain.qr` — CCCD card QR and Decision 1405 personal QR payloads.

Every function here runs once per parsed row of files with millions of rows: regexes are compiled once,
look-ups are dicts, and repeated inputs are cached where that helps.
"""
