-- the 10 flights most at risk of cancellation on the latest scored night
-- grain: one row per flight of that night (the 10 with the highest scores); the demo's BI query
select p.score_date, p.entity_id, round(p.score::numeric, 3) as cancellation_risk,
       p.predicted_label as flagged, p.model_version
from batchscore.predictions as p
where p.score_date = (select max(score_date) from batchscore.predictions)
order by p.score desc
limit 10;
