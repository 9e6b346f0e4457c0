-- forgea_audit 0.1.0 -> 0.2.0 (ALTER EXTENSION forgea_audit UPDATE TO '0.2.0').
--
-- Every change to the SQL surface made in 0.2.0 is written here as well as in forgea_audit--0.2.0.sql;
-- test/upgrade/ checks that updating an 0.1.0 install gives the same objects as installing 0.2.0 fresh.
\echo Use "ALTER EXTENSION forgea_audit UPDATE TO '0.2.0'" to load this file. \quit
