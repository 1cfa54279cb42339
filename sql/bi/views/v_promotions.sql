-- BI contract. grain: one row per promotion decision (weekly retraining, manual runs, rollbacks): who
-- decided, which challenger met which champion, on what evidence, and the outcome. metric is the rule's
-- primary metric (per kind, higher is better: neg_mae is minus the MAE); champion_metric_value and
-- challenger_metric_value are its values on the shared holdout, improvement their difference; the two
-- *_metrics columns hold every figure of the kind (jsonb). The average precision columns are binary's.
-- Example: select use_case, decided_at, challenger_version, promoted, metric, improvement, reason
--          from batchscore.v_promotions;
create or replace view batchscore.v_promotions as
with decisions as (
    select
        decision.*,
        decision.rule ->> 'metric' as rule_metric,
        -- the summaries store the positive figure of a neg_* metric (mae for neg_mae)
        case when decision.rule ->> 'metric' like 'neg\_%'
             then substr(decision.rule ->> 'metric', 5) else decision.rule ->> 'metric' end as figure,
        case when decision.rule ->> 'metric' like 'neg\_%' then -1.0 else 1.0 end           as sign
    from batchscore.promotion_decisions as decision
)
select
    decisions.use_case,
    versions.kind,
    decisions.decided_at,
    decisions.actor,
    decisions.run_id,
    decisions.cutoff_date,
    decisions.champion_version,
    decisions.challenger_version,
    decisions.promoted,
    decisions.dry_run,
    decisions.forced,
    decisions.rule_metric                                                  as metric,
    decisions.sign * (decisions.champion_metrics ->> decisions.figure)::float8    as champion_metric_value,
    decisions.sign * (decisions.challenger_metrics ->> decisions.figure)::float8  as challenger_metric_value,
    decisions.improvement,
    (decisions.bootstrap ->> 'win_share')::float8                          as bootstrap_win_share,
    (decisions.champion_metrics ->> 'average_precision')::float8           as champion_average_precision,
    (decisions.challenger_metrics ->> 'average_precision')::float8         as challenger_average_precision,
    decisions.champion_metrics,
    decisions.challenger_metrics,
    decisions.reason
from decisions
left join batchscore.model_versions as versions
    on versions.use_case = decisions.use_case and versions.version = decisions.challenger_version
