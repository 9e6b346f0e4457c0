// forgea_audit.* settings (GUCs).  Defined in module.cpp, documented in README.md "Settings".
#pragma once

extern "C" {
#include "postgres.h"
}

// The platform's session table, as a possibly schema-qualified SQL name.  Superuser-only: whoever
// points it elsewhere decides which "sessions" pushes are recorded against.
extern char *fa_lab_session_table;
