// Which version of the extension's SQL objects this library serves, and the C symbol names it
// serves them under.  The one place to change when the SQL version changes.
//
// The library serves exactly one SQL version (forgea_audit.control's default_version).  Its SQL
// functions bind to version-suffixed C symbols ('fa_record_push_0_3' for 0.3.0), as
// pg_stat_statements does: an install still at an older SQL version calls the old names, which this
// library keeps only as stubs that refuse with a clear error (src/pg/sql_version.cpp) instead of
// running 0.3.0 code against 0.2.0 (or 0.1.0) tables.
//
// FA_FUNCTION(fa_thing, ...) (src/pg/boundary.hpp) exports fa_thing_0_3 by itself; the SQL names
// it, in forgea_audit--0.3.0.sql and in the upgrade script forgea_audit--0.2.0--0.3.0.sql, as
// AS 'MODULE_PATHNAME', 'fa_thing_0_3'.
//
// A later version (0.4.0) changes FA_SQL_VERSION and FA_SQL_SUFFIX below, rebinds every C function
// in its upgrade script (CREATE OR REPLACE FUNCTION ... 'fa_thing_0_4', with its whole
// definition), and adds the 0.3.0 symbols to the stubs in sql_version.cpp, as 0.3.0 did for 0.2.0's.
// test/upgrade/upgrade.sh checks that the SQL binds only to this suffix and that this version is
// the control file's.
#pragma once

#define FA_SQL_VERSION "0.3.0"
#define FA_SQL_SUFFIX _0_3

#define FA_SQL_CONCAT_(a, b) a##b
#define FA_SQL_CONCAT(a, b) FA_SQL_CONCAT_(a, b)
// fa_thing -> fa_thing_0_3
#define FA_SQL_SYMBOL(name) FA_SQL_CONCAT(name, FA_SQL_SUFFIX)
