-- grain: one row per run that creates staging tables (its key); a retry of the run refreshes its age.
insert into batchscore.staging_runs (table_key, use_case, score_date, run_id, kind)
values (:k, :u, :d, :r, :kind)
on conflict (table_key) do update set created_at = now()
