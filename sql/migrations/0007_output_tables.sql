-- Ownership of the tables that hold a use case's scores (issue 14): a predictions or shadow table in schema
-- batchscore belongs to exactly one use case. pipeline.db.ownership claims a table in the transaction that creates
-- it (or, for a table made before this migration, the first time a use case touches it) and refuses any other use
-- case that names it afterwards.
-- grain: one row per table in schema batchscore that holds a use case's predictions or shadow scores.
create table batchscore.output_tables (
    table_name   text        primary key,   -- bare name, in schema batchscore
    use_case     text        not null,      -- the owner
    role         text        not null check (role in ('predictions', 'shadow')),
    declared_in  text        not null,      -- the TOML file that named it when it was claimed
    claimed_at   timestamptz not null default now()
);
