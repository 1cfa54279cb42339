-- Fill bench.w1 for one date: :n rows starting at entity :first (deterministic given setseed).
insert into bench.w1
select
    g                                                                        as entity_id,
    cast(:score_date as date)                                                as score_date,
    case when random() < 0.01 then null else random() * 2 - 1 end            as f01,
    case when random() < 0.01 then null else random() * 2 - 1 end            as f02,
    case when random() < 0.01 then null else random() * 2 - 1 end            as f03,
    case when random() < 0.01 then null else random() * 2 - 1 end            as f04,
    case when random() < 0.01 then null else random() * 100 end              as f05,
    case when random() < 0.01 then null else random() * 100 end              as f06,
    case when random() < 0.01 then null else random() * 100 end              as f07,
    case when random() < 0.01 then null else random() * 100 end              as f08,
    case when random() < 0.01 then null else random() end                    as f09,
    case when random() < 0.01 then null else random() end                    as f10,
    case when random() < 0.01 then null else random() end                    as f11,
    case when random() < 0.01 then null else random() end                    as f12,
    case when random() < 0.01 then null else random() * 1000 end             as f13,
    case when random() < 0.01 then null else random() * 1000 end             as f14,
    case when random() < 0.01 then null else random() * 1000 end             as f15,
    case when random() < 0.01 then null else random() * 1000 end             as f16,
    'k' || (g % 5)::text                                                     as c1,
    'level_' || lpad(((g * 7) % 20)::text, 2, '0')                           as c2,
    null                                                                     as label
from generate_series(cast(:first as bigint), cast(:first as bigint) + cast(:n as bigint) - 1) as g;
