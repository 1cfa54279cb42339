-- A retraining run's holdout, scored by the challenger and the champion (evaluate writes it, decide reads it).
-- grain: one row per (entity_id, score_date) of the holdout. label is text (a boolean, a class or a number, by
-- the use case's kind); each output is an array: [P(positive)], the class probabilities in the evaluation's class
-- order, or [predicted value]; champion_output is null when there is no champion.
create unlogged table {{outputs}} (
    entity_id          text               not null,
    score_date         date               not null,
    label              text               not null,
    challenger_output  double precision[] not null,
    champion_output    double precision[]
)
