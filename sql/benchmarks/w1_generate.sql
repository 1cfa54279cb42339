-- Benchmark workload W1 (issue 6): a synthetic "source system" of :rows rows to score on 2020-01-01, plus
-- labelled history on 2019-12-01..2019-12-20 to train the benchmark's model once.
-- grain: one row per entity and date. 16 float columns (about 1% null), 2 categorical columns (5 and 20
-- levels), an entity id, a date, and a label whose log-odds depend on some of the columns.
drop schema if exists bench cascade;
create schema bench;

create unlogged table bench.w1 (
    entity_id   bigint not null,
    score_date  date   not null,
    f01 double precision, f02 double precision, f03 double precision, f04 double precision,
    f05 double precision, f06 double precision, f07 double precision, f08 double precision,
    f09 double precision, f10 double precision, f11 double precision, f12 double precision,
    f13 double precision, f14 double precision, f15 double precision, f16 double precision,
    c1 text not null,
    c2 text not null,
    label boolean
);
