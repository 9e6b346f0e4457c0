// Every header of the pure core, for the PostgreSQL side to include FIRST (before postgres.h).
//
// Core headers refuse to be compiled after postgres.h (src/core/pure_cpp.hpp): PostgreSQL's headers
// redefine names the core's inline code would then silently use (snprintf, gettext, Min/Max, ...).
// With the whole core read here, first, a later #include of a core header is a no-op (#pragma
// once) and the order of the other includes no longer matters.  A new core header goes here too;
// forgetting it is a build error that names this rule.
#pragma once

#include "core/base64.hpp"
#include "core/byte_sink.hpp"
#include "core/canonical_json_bytes.hpp"
#include "core/chain_record.hpp"
#include "core/chain_reorder.hpp"
#include "core/chain_verifier.hpp"
#include "core/checkpoint_note.hpp"
#include "core/csv_reader.hpp"
#include "core/ed25519.hpp"
#include "core/hasher.hpp"
#include "core/hex.hpp"
#include "core/json_text.hpp"
#include "core/merkle_tree.hpp"
#include "core/note_signature.hpp"
#include "core/push_rules.hpp"
#include "core/receipt_check.hpp"
#include "core/redaction.hpp"
#include "core/sha256.hpp"
#include "core/slab_arena.hpp"
#include "core/witness.hpp"

#include "pg/lifetime.hpp"

// The core types the backend keeps across PostgreSQL calls (verify_chain's pass state, checkpoint
// bodies, the records it hashes): a longjmp may skip them, so none may own anything.
FA_LIVES_ACROSS_PG_CALLS(forgea::core::Bytes);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::NullableInt64);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::AuditRecord);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ChainInOrder);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ChainTable);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ProblemReport);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::HeadRecord);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::RowLink);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ChainWalker);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::FirstProblem);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::CheckpointBody);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ParsedSignature);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::ParsedCheckpoint);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::merkle::Frontier);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::merkle::ProofPlan);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::Ed25519Key);
FA_LIVES_ACROSS_PG_CALLS(forgea::core::PathRef);
