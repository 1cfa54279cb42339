-- Raise one alert unless the same breach was raised before (returns a row only when it is new).
insert into batchscore.alerts (use_case, kind, alert_key, score_date, model_version, message, details)
values (:use_case, :kind, :alert_key, cast(:score_date as date), :model_version, :message, cast(:details as jsonb))
on conflict (use_case, kind, alert_key) do nothing
returning id
