"""Ingest: the landing zone, parsing, staging, row rules, the batch gate, merge and reports."""
