// Signed checkpoints (docs/checkpoints.md): forgea_audit.checkpoint(), and what verify_chain()
// needs to check the log against a checkpoint kept outside the database.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
}

#include "core/checkpoint_note.hpp"

// Checks a parsed checkpoint's signature against this server's key (forgea_audit.signing_key_file).
// Returns nullptr if it holds (or if the note is unsigned and no key is configured; *is_signed
// says which), else a palloc'd sentence saying why not.
char *fa_checkpoint_signature_problem(const forgea::core::ParsedCheckpoint &cp, bool *is_signed);

// The heads the checkpoint sealed, from its CHECKPOINT audit event, checked against its root.
// Returns nullptr and a palloc'd reason in *why if they cannot be had.  Needs SPI.
forgea::core::HeadRecord *fa_checkpoint_heads(const forgea::core::ParsedCheckpoint &cp, int64 *count, char **why);
