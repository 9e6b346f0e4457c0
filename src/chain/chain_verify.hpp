// What verify_chain() (chain_verify.cpp) lends to the other verifications: its row hashing.
#pragma once

#include "pg/core_headers.hpp"  // first: see there

#include "core/chain_verifier.hpp"
#include "pg/datum_read.hpp"

extern "C" {
#include "postgres.h"
#include "access/tupdesc.h"
}

// verify_chain()'s check of one row's content against its own row_hash, for rows of any tuple
// descriptor that has audit_log's columns by name (an SPI result of "SELECT a.*, ..." included).
// Created in keep (which must outlive every check); release() frees the hash state.
struct FaRowHasher;
FaRowHasher *fa_row_hasher_create(TupleDesc desc, MemoryContext keep);

// One row's RowLink (content checked; prev_hash and row_hash as stored); *chain_id points into
// the row's (detoasted) values.
forgea::core::RowLink fa_row_hasher_check(FaRowHasher *rh, const FaRow &row, forgea::core::Bytes *chain_id);

// The same check, two rows hashed at once (core sha256_pair): pend() reads and encodes a row
// (copies: the row may go after it) and returns how many are pending (at most 2: settle before a
// third); settle() hashes them and gives each one's RowLink and chain id (valid until the next
// pend()), in the order pended, and returns how many.
int fa_row_hasher_pend(FaRowHasher *rh, const FaRow &row);
int fa_row_hasher_settle(FaRowHasher *rh, forgea::core::RowLink links[2], forgea::core::Bytes chain_ids[2]);

void fa_row_hasher_release(FaRowHasher *rh);
