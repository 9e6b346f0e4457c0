// Checkpoints (docs/checkpoints.md): the heads of every chain sealed under one root, written as a
// C2SP signed note.  Pure: the signature itself comes from ed25519.hpp, hashing from a Hasher.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "byte_sink.hpp"
#include "chain_verifier.hpp"
#include "hasher.hpp"

namespace forgea::core {

// root = SHA-256("forgea_audit checkpoint v1\n" || for each head, in chain_id order:
//                u32be(len) || chain_id || i64be(length) || i64be(last_seq) || last_hash)
// Heads must be sorted by compare_chain_ids and unique.
void checkpoint_root(const HeadRecord *heads, std::size_t n, Hasher &hasher, std::uint8_t out[kHashLen]);

struct CheckpointBody;

// Checks a list of heads against a checkpoint's body: sorted and unique by chain id, hashing to
// its root, and adding up to its size, chains and seq lines.  nullptr if they match, else what
// does not.
const char *check_sealed_heads(const CheckpointBody &body, const HeadRecord *heads, std::size_t n, Hasher &hasher);

struct CheckpointBody {
    Bytes origin;             // "forgea_audit/<system identifier>/<database>"
    // A transparency-log checkpoint (0.2.0, docs/transparency.md): origin, tree size, the RFC 6962
    // root of the first `size` leaves, no seq/chains lines.  Otherwise a 0.1.0 chain-heads note.
    bool tree = false;
    std::int64_t size = 0;    // tree: leaves; 0.1.0: rows covered, the sum of the heads' lengths
    std::uint8_t root[kHashLen] = {};
    std::int64_t max_seq = 0; // the highest last_seq among the heads
    std::int64_t chains = 0;
    std::int64_t time_unix_us = 0;
};

// The note body: origin, size, base64 root, then the extension lines "seq N", "chains N",
// "time N"; every line ends with '\n'.  This is the text that is signed.
void write_checkpoint_body(const CheckpointBody &b, ByteSink &out);

// A transparency-log note body (C2SP tlog-checkpoint): origin, tree size, base64 root, each line
// ending with '\n', no extension lines.  This is the text that is signed.
void write_tree_checkpoint_body(Bytes origin, std::int64_t size, const std::uint8_t root[kHashLen], ByteSink &out);

// C2SP key id: the first 4 bytes of SHA-256(name || '\n' || 0x01 || public key), big-endian.
std::uint32_t note_key_id(Bytes key_name, const std::uint8_t public_key[32], Hasher &hasher);

// "— <name> <base64(key id || signature)>\n"
void write_signature_line(Bytes key_name, std::uint32_t key_id, const std::uint8_t signature[64], ByteSink &out);

// A C2SP tlog-cosignature/v1 line (Ed25519, key type 0x04):
// "— <name> <base64(key id || u64be(timestamp) || signature)>\n".
void write_cosignature_line(Bytes key_name, std::uint32_t key_id, std::uint64_t timestamp,
                            const std::uint8_t signature[64], ByteSink &out);

struct ParsedSignature {
    Bytes key_name;
    std::uint32_t key_id = 0;
    // A witness's cosignature (tlog-cosignature/v1: 76 bytes, a timestamp before the signature)
    // rather than a note signature (68 bytes).  A log key never verifies one: its key id is made
    // with another type byte (0x04), and its message is not the note's text.
    bool timestamped = false;
    std::uint64_t timestamp = 0;
    std::uint8_t signature[64] = {};
};

struct ParsedCheckpoint {
    Bytes text_signed;        // the body: what the signatures sign
    CheckpointBody body;
    // The log's signature and witnesses' cosignatures (a published checkpoint carries one per
    // witness of its quorum).
    static constexpr int kMaxSignatures = 16;
    ParsedSignature signatures[kMaxSignatures];
    int signature_count = 0;
};

// Parses a checkpoint note (signed or not): a transparency-log note (body.tree, the 0.2.0
// format: no "seq"/"chains" lines; other extension lines allowed) or a 0.1.0 chain-heads note
// ("seq", "chains" and "time" lines all present).  The final newline may be missing (a note passed
// through the shell's $(...) loses it); every other line ends with '\n'.  Returns nullptr on
// success, or a static message saying what is malformed.  Views point into text.
const char *parse_checkpoint(const char *text, std::size_t len, ParsedCheckpoint *out);

}  // namespace forgea::core
