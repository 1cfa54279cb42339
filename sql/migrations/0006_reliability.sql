-- Reliability (issue 17).
-- 1. The ledger: one row per (use case, score date, run id, attempt), at most one `succeeded` row per run id.
--    A re-run under the same run id (a cleared Airflow run) that publishes again supersedes its earlier success.
alter table batchscore.scoring_runs add column attempt integer not null default 1;
alter table batchscore.scoring_runs drop constraint scoring_runs_status_check;
alter table batchscore.scoring_runs add constraint scoring_runs_status_check
    check (status in ('succeeded', 'rejected', 'failed', 'superseded'));
-- rows written before this migration: number the attempts, keep only the newest success of a run id
update batchscore.scoring_runs r set attempt = n.attempt
from (select id, row_number() over (partition by use_case, score_date, run_id order by id) as attempt
      from batchscore.scoring_runs) n
where n.id = r.id and r.attempt <> n.attempt;
update batchscore.scoring_runs r set status = 'superseded'
where r.status = 'succeeded' and exists (
    select from batchscore.scoring_runs later
    where later.use_case = r.use_case and later.score_date = r.score_date and later.run_id = r.run_id
      and later.status = 'succeeded' and later.id > r.id);
create unique index scoring_runs_attempt on batchscore.scoring_runs (use_case, score_date, run_id, attempt);
create unique index scoring_runs_one_success on batchscore.scoring_runs (use_case, score_date, run_id)
    where status = 'succeeded';

-- 2. A check the gate could not run (too little history for the volume band) is recorded as skipped: success null,
--    the reason in `error`.
alter table batchscore.validation_results alter column success drop not null;

-- 3. The staging janitor: every run's working tables are registered when the run starts, so that the tables of
--    runs that died (killed, failed, rejected) can be found and dropped later.
-- grain: one row per run that created staging tables (scoring runs and training runs).
create table batchscore.staging_runs (
    table_key   text        primary key,   -- the hash every staging table name of the run ends with
    use_case    text        not null,
    score_date  date,                      -- null for training runs
    run_id      text        not null,
    kind        text        not null check (kind in ('score', 'train')),
    created_at  timestamptz not null default now()
);
