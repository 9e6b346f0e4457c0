// Both sides of C2SP tlog-witness (https://c2sp.org/tlog-witness), pure: the vkeys that name a log
// or a witness, the add-checkpoint request a log sends and the witness parses, tlog-cosignature/v1
// (Ed25519, key type 0x04) messages and lines, the witness's decision for a request (which HTTP
// status, which new state), its state file, and the head of an HTTP/1.1 request.  Used by
// tools/forgea_audit_publish (the client) and tools/forgea_audit_witness (the server), unit-tested
// in test/unit/witness_tests.cpp and fuzzed by test/fuzz/fuzz_witness.cpp.  Nothing here does I/O.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "checkpoint_note.hpp"
#include "hasher.hpp"

namespace forgea::core::witness {

constexpr std::uint8_t kTypeEd25519 = 0x01;        // a log's note signature (signed-note)
constexpr std::uint8_t kTypeCosignatureV1 = 0x04;  // a witness's timestamped cosignature
constexpr int kMaxProofLines = 63;                 // tlog-witness: at most 63 consistency proof lines
constexpr std::size_t kMaxRequestBody = 64 * 1024; // a checkpoint with signatures and 63 hashes is ~4 KB

// A C2SP verifier key: "<name>+<hex key id>+<base64(type || public key)>".
struct Vkey {
    std::string name;
    std::uint32_t key_id = 0;
    std::uint8_t type = 0;
    std::uint8_t public_key[32] = {};
};

// SHA-256(name || "\n" || type || public key)[:4], big-endian: the key id of signed-note.
std::uint32_t key_id(const std::string &name, std::uint8_t type, const std::uint8_t public_key[32], Hasher &h);

// Parses a vkey of an Ed25519 type (0x01 or 0x04), checking its key id; nullptr or what is wrong.
// A key name is non-empty and has no '+', space or control character.
const char *parse_vkey(const std::string &text, Vkey *out, Hasher &h);

// The vkey text of a key.
std::string format_vkey(const std::string &name, std::uint8_t type, const std::uint8_t public_key[32], Hasher &h);

// ---- add-checkpoint -------------------------------------------------------------------------

struct AddCheckpoint {
    std::int64_t old_size = 0;
    int proof_len = 0;
    std::uint8_t proof[kMaxProofLines][kHashLen] = {};
    const char *note = nullptr;  // the checkpoint, pointing into the parsed body
    std::size_t note_len = 0;
};

// "old <N>\n", at most 63 base64 hash lines, "\n", then the checkpoint.  Strict: N in decimal
// without leading zeros, each hash canonical base64 of 32 bytes.  nullptr or what is wrong.
const char *parse_add_checkpoint(const char *body, std::size_t len, AddCheckpoint *out);

// The request body for a checkpoint note, old size and proof.
std::string format_add_checkpoint(std::int64_t old_size, const std::uint8_t (*proof)[kHashLen], int proof_len,
                                  const std::string &note);

// ---- cosignatures ---------------------------------------------------------------------------

// "cosignature/v1\ntime <t>\n" || the note's text (its body up to and including the final newline,
// no signature lines): what a witness signs.
std::string cosignature_message(Bytes text_signed, std::uint64_t timestamp);

// What a set of signature lines holds for one witness key.
struct CosignatureCheck {
    int valid = 0;                 // lines by this witness (name and key id) that verify
    int invalid = 0;               // lines by this witness that do not (or are not timestamped)
    std::uint64_t timestamp = 0;   // of the last valid one
    std::string lines;             // the valid lines, each ending with '\n'
};

// Checks signature lines ("— name base64\n"...; other witnesses' and unknown lines are ignored,
// as the spec asks) against the witness's vkey (type 0x04) over text_signed.  False if the text is
// not a sequence of signature lines at all.
bool check_cosignatures(const char *lines, std::size_t len, Bytes text_signed, const Vkey &witness,
                        CosignatureCheck *out);

// ---- the witness ----------------------------------------------------------------------------

// What the witness knows of one log: the size and root of the latest checkpoint it cosigned.
struct LogState {
    std::int64_t size = 0;
    std::uint8_t root[kHashLen] = {};
};

// The logs a witness accepts: origin -> the keys that may sign its checkpoints.
using LogKeys = std::map<std::string, std::vector<Vkey>>;
using State = std::map<std::string, LogState>;

struct Decision {
    int status = 400;          // 200, 400, 403, 404, 409, 422
    std::string message;       // for the witness's log and a client's error body
    std::string origin;        // the checkpoint's origin, once known
    std::int64_t size = -1;    // the checkpoint's size, once known
    std::int64_t known = -1;   // 409: the size of the latest cosigned checkpoint (the body)
    Bytes text_signed;         // 200: the note text to cosign
    LogState next;             // 200: the state to persist (before answering) under origin
};

// tlog-witness's checks, in the spec's order: a malformed request (400); an unknown origin (404);
// no signature by a key trusted for it (403); an old size above the checkpoint's (400); an old size
// other than the one last cosigned (409, with that size); a proof that does not verify (422, also
// a non-empty proof from size 0); the same size with another root (409).  Otherwise 200.
Decision decide(const AddCheckpoint &req, const LogKeys &logs, const State &state, Hasher &h);

// The state file: "forgea_audit_witness state v1\n", then per log "<size> <base64 root> <origin>\n".
std::string format_state(const State &state);
const char *parse_state(const char *text, std::size_t len, State *out);

// ---- HTTP/1.1 request head ------------------------------------------------------------------

constexpr std::size_t kMaxRequestHead = 8 * 1024;

struct HttpHead {
    std::string method;
    std::string target;
    std::int64_t content_length = -1;  // -1: no Content-Length header
    bool keep_alive = true;            // HTTP/1.1 default; "Connection: close" or HTTP/1.0 turn it off
    bool expect_continue = false;      // "Expect: 100-continue"
    std::size_t head_len = 0;          // bytes up to and including the blank line
};

enum class HeadResult { kIncomplete, kBad, kDone };

// Parses the head of a request in buf (CRLF or LF line ends).  kIncomplete: no blank line yet (and
// len below kMaxRequestHead); kBad: malformed, too long, chunked, or a conflicting Content-Length
// (*why says which).
HeadResult parse_http_head(const char *buf, std::size_t len, HttpHead *out, const char **why);

}  // namespace forgea::core::witness
