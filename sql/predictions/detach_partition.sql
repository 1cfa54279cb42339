-- Inside publish's transaction: the date's current partition {{old}} leaves {{predictions}} and is dropped.
-- Catalog changes only; readers keep seeing it until the transaction commits.
alter table {{predictions}} detach partition {{old}};
drop table {{old}}
