// A receipt (forgea_audit.receipt(attempt_id), docs/transparency.md) checked with nothing from the
// server but the receipt and the log's public key: the tool's --receipt, and the fuzzer's
// (test/fuzz/fuzz_receipt.cpp) subject.  A receipt comes from whoever hands it over, so it is read
// strictly (json_text.hpp: no repeated key anywhere) and exactly: version 1, exactly the members
// receipt() writes, integers written as plain integers, the attempt it names being its row's.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>
#include <string>

#include "hasher.hpp"
#include "note_signature.hpp"

namespace forgea::core {

struct ReceiptVerdict {
    Outcome outcome = Outcome::kBadInput;
    // kOk: the verdict after "ok: "; kFailed: the detail after "FAIL first_bad_seq=S: ";
    // kBadInput: why the document is not a receipt this tool can check.
    std::string text;
    bool has_seq = false;  // the row's seq is known (kFailed: first_bad_seq; else NULL)
    std::int64_t seq = 0;
};

// Checks, in order: the JSON (strict), the members and their types, the note (parsed, a
// transparency-log note, signed per policy), the row's hash_version, its fields hashing to
// row_hash, the attempt (attempt_id null claims none; a number must be the row's: a
// LAB_VERIFY_ATTEMPT row of target lab_attempt whose target_id is that number), tree_size being
// the note's, and the inclusion proof of leaf(row_hash) at leaf_index leading to the note's root.
ReceiptVerdict check_receipt(const char *text, std::size_t len, const NotePolicy &policy, Hasher &hasher);

}  // namespace forgea::core
