#!/usr/bin/env bash
# Runs once, when the postgres container initialises an empty data volume (docker-entrypoint-initdb.d).
# Two databases on one PostgreSQL 16 server, each owned by its own login role:
#   airflow     Airflow's metadata, owned by role `airflow`
#   batchscore  our data, owned by role `batchscore_writer` (the pipeline writer): it runs our migrations, so
#               it owns the schemas batchscore and batchscore_staging and every table in them. CREATEROLE lets
#               migration 0005_bi_role.sql create the BI reader role `batchscore_bi` (SELECT on views only).
# Passwords come from the environment (.env), never from this file; psql variables quote them safely.
set -euo pipefail
: "${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD in .env}"
: "${BATCHSCORE_WRITER_PASSWORD:?set BATCHSCORE_WRITER_PASSWORD in .env}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v airflow_pw="$AIRFLOW_DB_PASSWORD" -v writer_pw="$BATCHSCORE_WRITER_PASSWORD" <<'SQL'
create role airflow login password :'airflow_pw';
create database airflow owner airflow;
create role batchscore_writer login createrole password :'writer_pw';
create database batchscore owner batchscore_writer;
revoke all on database batchscore from public;
revoke all on database airflow from public;
SQL
