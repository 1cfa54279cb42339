-- the first 10 predictions of the latest scored night
-- grain: one row per entity of that night (10 of them), every published column; the demo's BI query of a
-- use case without its own sql/usecases/<name>/demo.sql
select p.*
from {{predictions}} as p
where p.score_date = (select max(score_date) from {{predictions}})
order by p.entity_id
limit 10;
