-- Issue 19 (branch s3-status): an incremental status build counts no whole derived table. The arrivals step
-- reported the overdue follow-ups with a count over every follow-up row of the rule set; this partial index holds
-- the overdue ones only, so the count reads those (as health_status_f0 does for the active F0s). The arrivals'
-- own count is kept from each build's deletes and inserts (derived.arrival_build_state.arrivals).
create index arrival_followup_overdue on derived.arrival_followup (rule_set) where overdue;
