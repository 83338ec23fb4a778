"""Realistic sample data for Hòa Bình with ground truth, and a facility API simulator.

* :mod:`covidsync.sample.generator` — ``generate(Options(...))``: landing zone, API data, ``truth/``.
* :mod:`covidsync.sample.population`, :mod:`~covidsync.sample.events` — people, facilities, doses, tests,
  venues, check-ins (lazy).
* :mod:`covidsync.sample.defects` — the defect catalogue (one contract code per injected row).
* :mod:`covidsync.sample.render` — every accepted file form (CSV encodings, XLSX, JSON, JSONL).
* :mod:`covidsync.sample.simulator` — the contract §8 API over HTTP, failing on demand; ``running(...)``.

The generator carries its own small domain knowledge (:mod:`covidsync.sample.knowledge`) so that tests can
check its output with :mod:`covidsync.domain` independently. See ``docs/sample-data.md``.
"""
