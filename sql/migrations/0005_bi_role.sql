-- The BI reader: a role that can select the BI views (batchscore.v_*) and nothing else.
-- Roles are cluster-wide, so it may exist already. Creating one needs CREATEROLE; without it the migration
-- says so and `batchscore db migrate` run by an administrator creates it later. The grants are (re)applied
-- after every migration by pipeline.db.grant_bi_access, and the password is set there from BATCHSCORE_BI_PASSWORD.
do $$
begin
    if not exists (select from pg_roles where rolname = 'batchscore_bi') then
        if exists (select from pg_roles where rolname = current_user and (rolcreaterole or rolsuper)) then
            create role batchscore_bi nologin;
        else
            raise notice 'role batchscore_bi not created: % lacks CREATEROLE', current_user;
        end if;
    end if;
end
$$;
