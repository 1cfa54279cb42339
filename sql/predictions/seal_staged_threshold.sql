-- Sealing a binary use case's staged predictions {{staged}}: the run's threshold default goes with the others.
alter table {{staged}} alter column threshold drop default
