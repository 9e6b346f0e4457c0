// Appending one event to a hash chain (docs/chain.md).
//
// Each event belongs to one chain, chosen by a stable key ("session:<id>" for everything a lab
// session causes).  Appending locks only that chain's head row, so pushes for different sessions
// commit in parallel; seq, taken while the head is locked, keeps one global order.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
#include "access/tupdesc.h"
}

#include "core/chain_record.hpp"
#include "core/chain_verifier.hpp"

struct AuditEvent {
    forgea::core::Bytes chain_id;
    forgea::core::Bytes tenant_id;
    forgea::core::Bytes user_id;
    forgea::core::Bytes actor_type;
    forgea::core::Bytes actor_id;
    forgea::core::Bytes action;
    forgea::core::Bytes target_type;
    forgea::core::Bytes target_id;
    forgea::core::Bytes outcome;
    forgea::core::Bytes severity;
    forgea::core::Bytes correlation_id;
    const Jsonb *metadata = nullptr;  // required
    const Jsonb *proof = nullptr;     // optional
    forgea::core::NullableInt64 parent_seq;
};
FA_LIVES_ACROSS_PG_CALLS(AuditEvent);

inline forgea::core::Bytes cstr_bytes(const char *s)
{
    return forgea::core::Bytes{s, s ? strlen(s) : 0};
}

// Appends ev to its chain and returns the new row's seq.  Secret-named keys in metadata and proof
// are redacted and oversize metadata replaced by a marker before anything is hashed; HIGH and
// CRITICAL events are published on FA_ALERT_CHANNEL.  The caller has connected to SPI and has
// validated outcome and severity (fa_check_outcome / fa_check_severity).
int64 fa_audit_append(const AuditEvent &ev);

// Raises (not crashes) when a result's columns are not the types this library reads them as: a
// database whose forgea_audit objects come from another build of the install script.
void fa_require_columns(TupleDesc desc, const Oid *types, int n, const char *what);

void fa_check_outcome(forgea::core::Bytes outcome);
void fa_check_severity(forgea::core::Bytes severity);

// HIGH and CRITICAL events are also published here, after commit (docs/roles.md, "Alerts").
#define FA_ALERT_CHANNEL "forgea_audit_alerts"
