-- A binary use case's staged predictions {{staged}}: the run's threshold is a column default too (sealing
-- drops it with seal_staged_threshold.sql).
alter table {{staged}} alter column threshold set default cast(:threshold as double precision)
