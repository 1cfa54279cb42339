-- An empty partition of {{predictions}} for one score date (used when an unpartitioned table is converted).
create table {{partition}} partition of {{predictions}} for values in (cast(:score_date as date))
