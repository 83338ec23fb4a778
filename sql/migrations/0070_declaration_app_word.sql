-- The declaring app a declarations file's `app` cell names (contract arrivals.md §2: `pccovid`, the default, or
-- `sskdt`, Sổ Sức khỏe điện tử, also read from its Vietnamese names), in one place: the file's duplicate rule,
-- its profile and its merge read the app the same way, and a new word for an app is added here once (the word
-- list had been written out five times in three SQL files). An immutable SQL function of one expression: the
-- planner inlines it, so it costs what the written-out CASE cost.
create function core.declaration_app(word text) returns text
language sql immutable parallel safe as $$
    select case
        when
            lower(coalesce(word, '')) in (
                'sskdt', 'sskđt', 'sổ skđt', 'so skdt', 'sổ sức khỏe điện tử', 'sổ sức khoẻ điện tử',
                'so suc khoe dien tu'
            )
            then 'sskdt'
        else 'pccovid'
    end
$$;

comment on function core.declaration_app(text) is
'Issue 24: the declaring app (pccovid or sskdt) a declarations file''s app cell names, as the duplicate rule, the profile and the merge read it.';
