// A receipt (forgea_audit.receipt(attempt_id), docs/transparency.md) checked with nothing from the
// server but the receipt and the log's public key: the tool's --receipt, and the fuzzer's
// (test/fuzz/fuzz_receipt.cpp) subject.  Two forms: receipt()'s JSON, and C2SP tlog-proof@v1 text
// (forgea_audit.receipt_tlog_proof(attempt_id)), whose extra data is the row's JSON and whose
// entry is the row_hash computed from it.  A receipt comes from whoever hands it over, so it is read
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
    int signer = -1;       // kOk with keys given: the index of the key that signed the checkpoint
    std::string note;      // kOk: the receipt's checkpoint note as it holds it (cosignature lines too)
};

// Checks, in order: the JSON (strict), the members and their types, the note (parsed, a
// transparency-log note, signed per policy), the row's hash_version, its fields hashing to
// row_hash, the attempt (a number must be the row's: a LAB_VERIFY_ATTEMPT row of target
// lab_attempt whose target_id is that number; null claims none, and fails for such a row, since
// receipt() always names the attempt of the row it holds), tree_size being
// the note's, and the inclusion proof of leaf(row_hash) at leaf_index leading to the note's root.
//
// A text that starts with "c2sp.org/tlog-proof@" is read as a tlog-proof (is_tlog_proof): the
// first line "c2sp.org/tlog-proof@v1", "extra <base64 of the row's JSON>" (required here: the
// entry is the row's row_hash, computed from those fields), "index <leaf index>", the inclusion
// proof (base64 hashes, one a line), an empty line, the checkpoint note verbatim (its signature
// lines may include witnesses' cosignatures).  Checked: the form, the note as above, the row's
// members and hash_version, and the proof of leaf(row_hash) at that index leading to the note's
// root.  The verdict names the attempt when the row is a LAB_VERIFY_ATTEMPT row of target
// lab_attempt (its target_id).
ReceiptVerdict check_receipt(const char *text, std::size_t len, const NotePolicy &policy, Hasher &hasher);

// The first line of a tlog-proof of version 1.
constexpr const char *kTlogProofHeader = "c2sp.org/tlog-proof@v1";

// Whether text is meant as a tlog-proof (it starts with "c2sp.org/tlog-proof@"), not a JSON receipt.
bool is_tlog_proof(const char *text, std::size_t len);

}  // namespace forgea::core
