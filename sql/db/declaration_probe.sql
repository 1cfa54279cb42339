-- The shape of one of a use case's queries without its rows (batchscore check): the result's columns and types.
-- grain: no rows (limit 0); the query is put in place of the marker below by pipeline.validation.declaration.
select * from (
    /* query */
) as probe
limit 0
