-- identity_anchor (temporary): one row per identifier of kind %(kind)s and the identifier that anchors its
-- person. Run once per kind in rule order (cccd, cmnd, qid, phone); each kind attaches to the persons the
-- kinds before it formed, by the first rule that gives candidates: 0 an operator's merge decision; 1 a link
-- seen on a card or personal QR (core.identity_link); 2 the same phone + birth date + name key (rule 4);
-- 3 (phone identities only) the persons whose records carry that phone. One candidate: attached. Several:
-- a conflict for review, never a guess (the identifier stays its own person; a phone stays unresolved).
-- No candidate: its own person (a phone alone makes none). Distinct decisions remove a candidate. An
-- incremental build resolves the identifiers of identity_scope only (identity_obs holds only theirs).
with node as (
    select distinct
        o.kind,
        o.value
    from identity_obs as o
    where o.kind = %(kind)s and not o.excluded
    union
    select
        'cccd',
        l.citizen_id
    from core.identity_link as l
    where
        %(kind)s = 'cccd'
        and l.citizen_id in (
            -- two branches, one dropped by the planner (an "everyone or ..." filter reads the whole table)
            select s.value from identity_scope as s
            where s.kind = 'cccd' and not %(everyone)s
            union all
            select x.citizen_id from core.identity_link as x
            where %(everyone)s
        )
),

-- every identifier already attached, with the phones and rule-4 keys its records carry
anchored_fact as (
    select distinct
        a.anchor_kind,
        a.anchor_value,
        o.pdn,
        o.phone
    from identity_anchor as a
    inner join identity_obs as o on a.kind = o.kind and a.value = o.value and not o.excluded
),

candidate as (
    select
        n.kind,
        n.value,
        0 as rule_rank,
        a.anchor_kind,
        a.anchor_value
    from node as n
    inner join derived.identity_decision as d
        on
            d.decision = 'merge' and d.other_kind <> 'dob'
            and ((n.kind = d.kind and n.value = d.value) or (n.kind = d.other_kind and n.value = d.other_value))
    inner join identity_anchor as a
        on
            (d.other_kind = a.kind and d.other_value = a.value and n.kind = d.kind and n.value = d.value)
            or (d.kind = a.kind and d.value = a.value and n.kind = d.other_kind and n.value = d.other_value)
    union all
    select
        n.kind,
        n.value,
        1,
        a.anchor_kind,
        a.anchor_value
    from node as n
    inner join core.identity_link as l on n.kind = l.other_kind and n.value = l.other_value
    inner join identity_anchor as a on a.kind = 'cccd' and l.citizen_id = a.value
    where n.kind <> 'phone'
    union all
    select
        n.kind,
        n.value,
        2,
        f.anchor_kind,
        f.anchor_value
    from node as n
    inner join identity_obs as o on n.kind = o.kind and n.value = o.value and not o.excluded
    inner join anchored_fact as f on o.pdn = f.pdn
    union all
    select
        n.kind,
        n.value,
        3,
        f.anchor_kind,
        f.anchor_value
    from node as n
    inner join anchored_fact as f on n.value = f.phone
    where n.kind = 'phone'
),

allowed as (
    select c.*
    from candidate as c
    where not exists (
        select 1 from derived.identity_decision as d
        where
            d.decision = 'distinct'
            and (
                (d.kind = c.kind and d.value = c.value and d.other_kind = c.anchor_kind and d.other_value = c.anchor_value)
                or (d.other_kind = c.kind and d.other_value = c.value and d.kind = c.anchor_kind and d.value = c.anchor_value)
            )
    )
),

best as (
    select
        a.kind,
        a.value,
        min(a.rule_rank) as rule_rank
    from allowed as a
    group by a.kind, a.value
),

chosen as (
    select
        b.kind,
        b.value,
        b.rule_rank,
        array_agg(distinct a.anchor_kind || ':' || a.anchor_value order by a.anchor_kind || ':' || a.anchor_value)
            as anchors
    from best as b
    inner join allowed as a on b.kind = a.kind and b.value = a.value and b.rule_rank = a.rule_rank
    group by b.kind, b.value, b.rule_rank
),

conflict as (
    insert into identity_conflict (kind, value, conflict_kind, candidates)
    select
        c.kind,
        c.value,
        case when c.rule_rank = 3 then 'shared_phone' else 'link_conflict' end,
        c.anchors
    from chosen as c
    where cardinality(c.anchors) > 1
    returning kind
)

-- (the conflict insert runs once whether or not it is read)

insert into identity_anchor (kind, value, anchor_kind, anchor_value, rule)
select
    n.kind,
    n.value,
    case when cardinality(c.anchors) = 1 then split_part(c.anchors[1], ':', 1) else n.kind end,
    case when cardinality(c.anchors) = 1 then substr(c.anchors[1], strpos(c.anchors[1], ':') + 1) else n.value end,
    case
        when cardinality(c.anchors) = 1
            then (array['decision', 'identity_link', 'phone_dob_name', 'phone'])[c.rule_rank + 1]
        else 'own'
    end
from node as n
left join chosen as c on n.kind = c.kind and n.value = c.value
where
    n.kind <> 'phone' or cardinality(c.anchors) = 1;
