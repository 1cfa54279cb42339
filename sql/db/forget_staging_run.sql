-- grain: the registry row of the run whose key is :k, deleted once its tables are dropped.
delete from batchscore.staging_runs where table_key = :k
