// libFuzzer harness: the checkpoint note parser (parse_checkpoint, src/core/checkpoint_note.hpp),
// which reads text handed to verify_chain(checkpoint => ...) and to the offline verifier.  On any
// input it must return without touching memory outside the note; what it accepts must be
// consistent: the signed text is a prefix of the note, and the note's body and signature lines,
// written again by the core's own writers, parse back to the same values.
#include <cstdint>
#include <string>

#include "core/checkpoint_note.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

namespace {

// A transparency-log note is written back without its extension lines (they carry nothing the
// proofs read), so only origin, size and root must survive; a 0.1.0 note keeps every line.
bool same_body(const core::CheckpointBody &a, const core::CheckpointBody &b)
{
    bool common = a.tree == b.tree && a.origin.len == b.origin.len &&
                  std::memcmp(a.origin.data, b.origin.data, a.origin.len) == 0 && a.size == b.size &&
                  std::memcmp(a.root, b.root, core::kHashLen) == 0;
    return common && (a.tree || (a.max_seq == b.max_seq && a.chains == b.chains && a.time_unix_us == b.time_unix_us));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    // An exact heap copy: a read one byte past the note is an ASan report.
    char *text = fuzz::exact_copy(reinterpret_cast<const char *>(data), size);
    auto *parsed = new core::ParsedCheckpoint;
    const char *err = core::parse_checkpoint(text, size, parsed);
    if (err != nullptr) {
        FA_REQUIRE(std::strlen(err) > 0, "an empty error message");
    } else {
        FA_REQUIRE(parsed->text_signed.data == text && parsed->text_signed.len <= size,
                   "the signed text is not a prefix of the note");
        // ... ending with a newline, unless it is a whole unsigned note that lost its final one.
        FA_REQUIRE(parsed->text_signed.len > 0 &&
                       (text[parsed->text_signed.len - 1] == '\n' ||
                        (parsed->signature_count == 0 && parsed->text_signed.len == size)),
                   "the signed text does not end with a newline");
        FA_REQUIRE(parsed->body.origin.len > 0 && parsed->body.origin.data >= text &&
                       parsed->body.origin.data + parsed->body.origin.len <= text + size,
                   "the origin does not point into the note");
        FA_REQUIRE(parsed->body.size >= 0, "a negative row count was accepted");
        FA_REQUIRE(parsed->signature_count >= 0 && parsed->signature_count <= core::ParsedCheckpoint::kMaxSignatures,
                   "signature count out of range");

        // Written again by the writers: the same body, and the same signatures.
        fuzz::StringSink note;
        if (parsed->body.tree)
            core::write_tree_checkpoint_body(parsed->body.origin, parsed->body.size, parsed->body.root, note);
        else
            core::write_checkpoint_body(parsed->body, note);
        if (parsed->signature_count > 0)
            note.s += '\n';
        for (int i = 0; i < parsed->signature_count; i++) {
            const core::ParsedSignature &s = parsed->signatures[i];
            if (s.timestamped)
                core::write_cosignature_line(s.key_name, s.key_id, s.timestamp, s.signature, note);
            else
                core::write_signature_line(s.key_name, s.key_id, s.signature, note);
        }
        auto *again = new core::ParsedCheckpoint;
        const char *err2 = core::parse_checkpoint(note.s.data(), note.s.size(), again);
        if (err2 != nullptr)
            std::fprintf(stderr, "rewritten note refused: %s\n", err2);
        FA_REQUIRE(err2 == nullptr, "a note written from a parsed note does not parse");
        FA_REQUIRE(same_body(parsed->body, again->body), "the rewritten body parses to other values");
        FA_REQUIRE(again->signature_count == parsed->signature_count, "the rewritten note has other signatures");
        for (int i = 0; i < parsed->signature_count; i++) {
            const core::ParsedSignature &a = parsed->signatures[i], &b = again->signatures[i];
            FA_REQUIRE(a.key_id == b.key_id && a.timestamped == b.timestamped && a.timestamp == b.timestamp &&
                           std::memcmp(a.signature, b.signature, 64) == 0 &&
                           a.key_name.len == b.key_name.len &&
                           std::memcmp(a.key_name.data, b.key_name.data, a.key_name.len) == 0,
                       "a rewritten signature line parses to another signature");
        }
        delete again;
    }
    delete parsed;
    std::free(text);
    return 0;
}
