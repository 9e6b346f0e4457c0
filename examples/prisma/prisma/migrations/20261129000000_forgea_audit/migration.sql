-- forgea_audit, as a raw SQL migration after the one that created "LabSession".
-- CREATE EXTENSION needs a superuser (the extension is superuser = true): run this migration as
-- one, or have the DBA run it and mark it applied (prisma migrate resolve --applied ...).
CREATE EXTENSION IF NOT EXISTS forgea_audit;

-- The index record_push's fork lookup uses, on the platform's table; written out here as well so
-- that Prisma's view of "LabSession" knows it (bind_lab_session_table() creates it IF NOT EXISTS).
SELECT forgea_audit.bind_lab_session_table();
