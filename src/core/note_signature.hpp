// Whether a checkpoint note is signed by the key a verifier trusts: the one rule the offline
// verifier applies to every note it is given (--dir --checkpoint, --receipt, --consistency, --note)
// and that a checkpoint listener relies on (docs/checkpoints.md, "Listening for checkpoints").
// A note proves nothing about the log unless the log's key signed it: anyone can write an
// unsigned note, or one signed by another key, with any root.  So an unsigned note is a failure
// unless the verifier was told to accept one, and the verdict names the key it checked against.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstdint>
#include <string>

#include "chain_record.hpp"
#include "checkpoint_note.hpp"
#include "hasher.hpp"

namespace forgea::core {

// How an offline check ended, as the tool's exit status says it: 0, 1, 2.
enum class Outcome { kOk = 0, kFailed = 1, kBadInput = 2 };

// The key a note must be signed by: its name in the signature line and its C2SP key id.
struct NoteKey {
    std::string name;
    std::uint8_t public_key[32] = {};
    std::uint32_t key_id = 0;
};

// A NoteKey for this name and Ed25519 public key (the key id computed with hasher).
NoteKey make_note_key(const std::string &name, const std::uint8_t public_key[32], Hasher &hasher);

struct NotePolicy {
    // The keys the note must be signed by (one of them): key[0] .. key[key_count - 1], e.g. a log's
    // current key and the ones it had before a rotation, all under one name; nullptr: none given.
    const NoteKey *key = nullptr;
    int key_count = 1;
    bool allow_unsigned = false;   // with no key: an unsigned note is accepted, its content only checked
};

struct NoteVerdict {
    Outcome outcome = Outcome::kBadInput;
    // kOk: how the note was accepted, for the verdict line ("signed by key \"forgea_audit\" (key id
    // 1a2b3c4d)" or "unsigned, accepted with --allow-unsigned"); otherwise what is wrong.
    std::string text;
    bool is_signed = false;  // the note carries at least one signature line
    int signer = -1;         // kOk with keys given: the index of the key that signed
};

// The note's signatures against the policy:
//   keys given: a signature line with one key's name and id must verify under it (kFailed if the
//     note is unsigned, has no such line for any key, or such a line does not verify); the
//     verdict names the key that signed;
//   no key: an unsigned note is kFailed unless allow_unsigned; a signed note is kBadInput (the
//     key to check it with is missing).
NoteVerdict check_note_signature(const ParsedCheckpoint &note, const NotePolicy &policy);

}  // namespace forgea::core
