// libFuzzer harness: what tools/forgea_audit_witness and the publisher parse from the network
// (src/core/witness.hpp): the HTTP request head, the add-checkpoint body and the witness's decision
// on it (with a fixed trusted log and a state of that log), the state file, vkeys, and the
// cosignature lines of a witness's answer.  On any input: no read outside the input, no crash, and
// what is accepted is consistent: a parsed request, a state or a vkey written again parses back
// to the same values; a decision of 200 carries a state of the checkpoint's size; a 409 names the
// size the state holds.  The first byte chooses the parser; the rest is its input.
#include <cstdint>
#include <string>

#include "core/ed25519.hpp"
#include "core/witness.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;
namespace w = forgea::core::witness;

namespace {

// A fixed log key, trusted for origin "fuzz.example/log", and a state of size 3.
struct Fixture {
    w::LogKeys logs;
    w::State state;
    w::Vkey witness;
    Fixture()
    {
        fuzz::Sha256 h;
        std::uint8_t pub[32];
        // The public key is only needed to verify: an arbitrary 32 bytes serve as well for
        // "trusted" (a fuzzed note never carries a valid signature by chance).
        std::memset(pub, 0x22, 32);
        w::Vkey v;
        std::string text = w::format_vkey("fuzz.example/log", w::kTypeEd25519, pub, h);
        FA_REQUIRE(w::parse_vkey(text, &v, h) == nullptr, "the fixture's vkey does not parse");
        logs["fuzz.example/log"].push_back(v);
        state["fuzz.example/log"].size = 3;
        std::string wv = w::format_vkey("fuzz.example/witness", w::kTypeCosignatureV1, pub, h);
        FA_REQUIRE(w::parse_vkey(wv, &witness, h) == nullptr, "the fixture's witness vkey does not parse");
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size == 0)
        return 0;
    static Fixture fx;
    int which = data[0] % 5;
    char *text = fuzz::exact_copy(reinterpret_cast<const char *>(data + 1), size - 1);
    std::size_t len = size - 1;
    fuzz::Sha256 h;
    switch (which) {
    case 0: {
        w::HttpHead hd;
        const char *why = nullptr;
        w::HeadResult r = w::parse_http_head(text, len, &hd, &why);
        if (r == w::HeadResult::kDone)
            FA_REQUIRE(hd.head_len > 0 && hd.head_len <= len && hd.head_len <= w::kMaxRequestHead,
                       "a parsed head longer than the input or the limit");
        if (r == w::HeadResult::kBad)
            FA_REQUIRE(why != nullptr && std::strlen(why) > 0, "a refused head without a reason");
        if (r == w::HeadResult::kIncomplete)
            FA_REQUIRE(len < w::kMaxRequestHead, "an incomplete head past the limit");
        break;
    }
    case 1: {
        auto *req = new w::AddCheckpoint;
        if (w::parse_add_checkpoint(text, len, req) == nullptr) {
            FA_REQUIRE(req->old_size >= 0 && req->proof_len >= 0 && req->proof_len <= w::kMaxProofLines,
                       "a parsed request out of range");
            FA_REQUIRE(req->note >= text && req->note + req->note_len == text + len, "the note is not the input's tail");
            std::string again = w::format_add_checkpoint(req->old_size, req->proof, req->proof_len,
                                                         std::string(req->note, req->note_len));
            FA_REQUIRE(again == std::string(text, len), "a parsed request written again differs");
            w::Decision d = w::decide(*req, fx.logs, fx.state, h);
            FA_REQUIRE(d.status == 200 || d.status == 400 || d.status == 403 || d.status == 404 || d.status == 409 ||
                           d.status == 422,
                       "a status the spec does not define");
            FA_REQUIRE(!d.message.empty(), "a decision without a message");
            if (d.status == 200)
                FA_REQUIRE(d.next.size == d.size && d.size >= req->old_size, "a cosigned state of another size");
            if (d.status == 409)
                FA_REQUIRE(d.known == 3 || (d.known == 0 && d.origin != "fuzz.example/log"), "a 409 with another size");
        }
        delete req;
        break;
    }
    case 2: {
        w::State s;
        if (w::parse_state(text, len, &s) == nullptr) {
            std::string again = w::format_state(s);
            w::State back;
            FA_REQUIRE(w::parse_state(again.data(), again.size(), &back) == nullptr, "a written state does not parse");
            FA_REQUIRE(back.size() == s.size(), "a written state has other logs");
            for (const auto &kv : s)
                FA_REQUIRE(back.count(kv.first) == 1 && back[kv.first].size == kv.second.size &&
                               std::memcmp(back[kv.first].root, kv.second.root, core::kHashLen) == 0,
                           "a written state has another size or root");
        }
        break;
    }
    case 3: {
        w::Vkey v;
        if (w::parse_vkey(std::string(text, len), &v, h) == nullptr) {
            std::string again = w::format_vkey(v.name, v.type, v.public_key, h);
            w::Vkey back;
            FA_REQUIRE(w::parse_vkey(again, &back, h) == nullptr && back.key_id == v.key_id && back.name == v.name,
                       "a vkey written again does not parse to the same key");
        }
        break;
    }
    default: {
        w::CosignatureCheck c;
        static const char kBody[] = "fuzz.example/log\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        bool ok = w::check_cosignatures(text, len, core::Bytes{kBody, sizeof kBody - 1}, fx.witness, &c);
        FA_REQUIRE(c.valid == 0, "a fuzzed line verified as a cosignature");
        FA_REQUIRE(ok || c.lines.empty(), "malformed lines, yet some were kept");
        break;
    }
    }
    std::free(text);
    return 0;
}
