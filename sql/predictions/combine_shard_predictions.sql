-- Publish of a sharded run: the shards' staged predictions, all shaped like {{first}}, become one staged table
-- {{staged}} (then sealed and attached like an unsharded run's). grain: one row per entity_id.
create table {{staged}} (like {{first}} including defaults including constraints);
insert into {{staged}} select * from {{shards}}
