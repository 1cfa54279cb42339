-- What one run published: its ledger row with the mean score of its predictions (P(positive), P(predicted
-- class) or the predicted value, by task kind) and how many inputs drifted.
-- grain: one row (the use case's run's latest ledger row), or none.
select r.score_date, r.status, r.rows_out, r.model_version, r.timings, r.reason,
       (select avg(p.score) from {{predictions}} p
         where p.score_date = r.score_date and p.run_id = r.run_id) as mean_score,
       (select count(distinct d.feature) from batchscore.drift_metrics d
         where d.use_case = r.use_case and d.run_id = r.run_id and d.status = 'drift') as drifted
from batchscore.scoring_runs r
where r.run_id = :r and r.use_case = :u  -- run ids repeat across use cases (one per DAG and logical date)
order by r.id desc
limit 1
