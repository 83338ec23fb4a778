-- core.declaration's indexes at the cost the readers need (issue 24: the declarations ingest at check-ins'
-- ratios; docs/performance.md, "e9-declarations"):
-- * declaration_travel, the partial b-tree on travel_date of movement declarations, goes: no statement reads
--   core.declaration by its travel date (the arrivals build joins declarations by person_key and filters the
--   person's rows; the marts, the scopes and the commune work lists read derived.arrival's travel date, or
--   core.declaration by person_key, submitted_at, loaded_at and source_file_id). Through a full arrivals build,
--   an incremental one and the work lists (bench/arrivals_status.py, 20,000 arrivals) it was scanned 0 times.
--   Every insert paid for it (0.1-0.2 s of 94k rows on a quiet machine, 0.7-0.8 s under load).
-- * declaration_person, a b-tree on (person_key, travel_date), becomes a hash index on person_key: every reader
--   looks a person's declarations up by equality on the key (nested loops from the arrivals' key map: 40k
--   index scans in the same bench, the same number with either index, the same arrivals and follow-up by
--   hash), none by a range of keys nor by the travel date within a key. A b-tree insert compares 64-character
--   random keys under the database's collation at every level; a hash index stores 4-byte hash codes
--   (the insert of 94k rows into core.declaration took 4.7-4.9 s against 5.7-5.8 s with the b-tree, same
--   database, alternating, under load 7-8).
drop index core.declaration_travel;
drop index core.declaration_person;
create index declaration_person on core.declaration using hash (person_key);
