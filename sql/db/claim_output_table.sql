-- Claim a predictions or shadow table for a use case (in the transaction that creates or first touches it).
-- grain: one row per table; an existing claim is kept as it is (the caller reads the owner back).
insert into batchscore.output_tables (table_name, use_case, role, declared_in)
values (:table_name, :use_case, :role, :declared_in)
on conflict (table_name) do nothing
