// Binding to the platform's "LabSession" table (named by forgea_audit.lab_session_table).
//
// The platform owns that table; the extension only reads a session by fork URL and moves its
// activity/status.  Fork URLs are matched by forgea_audit.repo_key(), which
// forgea_audit.bind_lab_session_table() backs with an expression index.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
}

#include "core/chain_record.hpp"

struct ActiveSession {
    Oid table = InvalidOid;       // the platform's table, as resolved for this call
    bool found = false;
    forgea::core::Bytes id;       // "id"
    forgea::core::Bytes user_id;  // "userId"
    int64 active_count = 0;       // active sessions on this fork (the most recently started wins)
};
FA_LIVES_ACROSS_PG_CALLS(ActiveSession);

// The active session (IN_PROGRESS or STUCK) for a repository key, most recently started first.
// Everything done on the platform's table runs as that table's owner in a security-restricted
// operation (docs/security.md): code its owner attached to it never runs as the extension's owner.
ActiveSession fa_find_active_session(forgea::core::Bytes repo_key);

// Sets "lastActivityAt"/"updatedAt" to now (UTC) and moves STUCK to IN_PROGRESS, with the row
// locked, as the table's owner.  Returns the status before the update, or nullptr if the session is
// no longer active.
const char *fa_touch_session(const ActiveSession &s);
