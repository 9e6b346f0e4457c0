// Who may write the chain tables.
//
// audit_log and chain_head carry BEFORE triggers (ENABLE ALWAYS, so session_replication_role does
// not switch them off) that refuse every write unless it comes from this library's own chain writer,
// which raises fa_chain_write_depth around its statements.  UPDATE, DELETE and TRUNCATE of
// audit_log are refused even then: the log is append-only for everyone, the extension included.
#pragma once

#include "pg/chain_writer.hpp"  // fa_chain_write_depth
