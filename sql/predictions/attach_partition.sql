-- Inside publish's transaction: the sealed staged table {{staged}} moves to the predictions' schema under its
-- partition name and becomes the date's partition. Its check on score_date proves the partition bound, so
-- PostgreSQL attaches it without scanning it. Catalog changes only.
alter table {{staged}} set schema {{schema}};
alter table {{moved}} rename to {{partition_name}};
alter table {{predictions}} attach partition {{partition}} for values in (cast(:score_date as date))
