-- Who owns a predictions or shadow table, if anyone has claimed it yet.
-- grain: at most one row (the table's claim).
select use_case, role, declared_in, claimed_at
from batchscore.output_tables
where table_name = :table_name
