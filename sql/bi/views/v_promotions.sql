-- BI contract. grain: one row per promotion decision (weekly retraining, manual runs, rollbacks): who
-- decided, which challenger met which champion, on what evidence, and the outcome.
-- Example: select decided_at, challenger_version, promoted, reason from batchscore.v_promotions;
create or replace view batchscore.v_promotions as
select
    use_case,
    decided_at,
    actor,
    run_id,
    cutoff_date,
    champion_version,
    challenger_version,
    promoted,
    dry_run,
    forced,
    rule ->> 'metric'                                         as metric,
    (champion_metrics ->> 'average_precision')::float8        as champion_average_precision,
    (challenger_metrics ->> 'average_precision')::float8      as challenger_average_precision,
    improvement,
    (bootstrap ->> 'win_share')::float8                       as bootstrap_win_share,
    reason
from batchscore.promotion_decisions
