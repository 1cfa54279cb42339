-- Whether the BI role's privileges are anything but USAGE on the schema and SELECT on its v_* views.
-- grain: one row, one boolean (false when the role does not exist: nothing to grant to; true when the schema
-- does not exist yet: a fresh database on a server where another database made the role).
select exists (select from pg_roles where rolname = :r) and case when to_regnamespace(:s) is null then true else (
    not has_schema_privilege(:r, :s, 'USAGE')
    or has_schema_privilege(:r, :s, 'CREATE')
    or exists (
        select from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = :s and (
            (c.relkind = 'v' and c.relname like 'v\_%' and not has_table_privilege(:r, c.oid, 'SELECT'))
            or (not (c.relkind = 'v' and c.relname like 'v\_%') and c.relkind in ('r', 'p', 'v', 'm', 'f')
                and has_table_privilege(:r, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER'))
        )
    )
) end
