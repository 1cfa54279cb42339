-- grain: one row per applied migration file (sql/migrations/NNNN_name.sql).
-- Run before every migration pass; idempotent.
create schema if not exists batchscore;

create table if not exists batchscore.schema_migrations (
    version     integer primary key,
    name        text        not null,
    checksum    text        not null,
    applied_at  timestamptz not null default now()
);
