// Unit tests for both sides of C2SP tlog-witness (src/core/witness.hpp): verifier keys (against
// published vkeys), tlog-cosignature/v1 lines (against a vector made with Python's `cryptography`
// from the spec's example checkpoint and RFC 8032's first test key), the add-checkpoint body
// (the spec's example request), the witness's decision for every status the spec defines, its
// state file and the HTTP request head.  Built into test/unit/core_tests by `make unit`.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "core/checkpoint_note.hpp"
#include "core/ed25519.hpp"
#include "core/hasher.hpp"
#include "core/merkle_tree.hpp"
#include "core/note_signature.hpp"
#include "core/witness.hpp"

namespace core = forgea::core;
namespace w = forgea::core::witness;
namespace merkle = forgea::core::merkle;

namespace {

class Sha256 final : public core::Hasher {
public:
    Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
    ~Sha256() { EVP_MD_CTX_free(ctx_); }
    Sha256(const Sha256 &) = delete;
    Sha256 &operator=(const Sha256 &) = delete;
    void put(const void *data, std::size_t len) override { EVP_DigestUpdate(ctx_, data, len); }
    void finish(std::uint8_t out[core::kHashLen]) override
    {
        unsigned int n = 0;
        EVP_DigestFinal_ex(ctx_, out, &n);
        EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
    }

private:
    EVP_MD_CTX *ctx_;
};

struct Sink final : core::ByteSink {
    std::string s;
    void put(const void *data, std::size_t len) override { s.append(static_cast<const char *>(data), len); }
};

core::Ed25519Key key_from_seed(const std::uint8_t seed[32])
{
    core::Ed25519Key k;
    k.has_private = true;
    std::memcpy(k.private_key, seed, 32);
    EVP_PKEY *p = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, k.private_key, 32);
    std::size_t n = 32;
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(p, k.public_key, &n), 1);
    EVP_PKEY_free(p);
    return k;
}

core::Ed25519Key key_from_byte(std::uint8_t b)
{
    std::uint8_t seed[32];
    std::memset(seed, b, 32);
    return key_from_seed(seed);
}

// RFC 8032, section 7.1, TEST 1.
core::Ed25519Key rfc8032_key()
{
    const char *hex = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    std::uint8_t seed[32];
    for (int i = 0; i < 32; i++)
        seed[i] = static_cast<std::uint8_t>(std::stoi(std::string(hex + 2 * i, 2), nullptr, 16));
    return key_from_seed(seed);
}

const std::string kSpecBody = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

// A small log: leaf hashes of "leaf <i>" (fork: leaf `forked_at` is "other").
struct Log {
    std::vector<std::array<std::uint8_t, 32>> leaves;
    explicit Log(int n, int forked_at = -1)
    {
        Sha256 h;
        for (int i = 0; i < n; i++) {
            std::string data = (i == forked_at ? "other " : "leaf ") + std::to_string(i);
            std::array<std::uint8_t, 32> leaf{};
            merkle::leaf_hash(h, data.data(), data.size(), leaf.data());
            leaves.push_back(leaf);
        }
    }
    // MTH of the complete subtree (level, index).
    void node(int level, std::int64_t index, std::uint8_t out[32]) const
    {
        Sha256 h;
        if (level == 0) {
            std::memcpy(out, leaves[static_cast<std::size_t>(index)].data(), 32);
            return;
        }
        std::uint8_t l[32], r[32];
        node(level - 1, 2 * index, l);
        node(level - 1, 2 * index + 1, r);
        merkle::node_hash(h, l, r, out);
    }
    void root(std::int64_t size, std::uint8_t out[32]) const
    {
        Sha256 h;
        merkle::Frontier f;
        merkle::DiscardNodes d;
        for (std::int64_t i = 0; i < size; i++)
            f.append(h, leaves[static_cast<std::size_t>(i)].data(), d);
        f.root(h, out);
    }
    int proof(std::int64_t old_size, std::int64_t new_size, std::uint8_t (*out)[32]) const
    {
        merkle::ProofPlan plan;
        EXPECT_TRUE(merkle::consistency_plan(old_size, new_size, &plan));
        std::vector<std::uint8_t> nodes(static_cast<std::size_t>(plan.nodes) * 32 + 32);
        for (int i = 0; i < plan.nodes; i++)
            node(plan.node[i].level, plan.node[i].index, &nodes[static_cast<std::size_t>(i) * 32]);
        Sha256 h;
        merkle::assemble(h, plan, reinterpret_cast<const std::uint8_t (*)[32]>(nodes.data()), out);
        return plan.ranges;
    }
};

const std::string kOrigin = "labs.example.edu/audit";

// A checkpoint of the log at size, signed by key under kOrigin.
std::string signed_note(const Log &log, std::int64_t size, const core::Ed25519Key &key,
                        const std::string &origin = kOrigin)
{
    std::uint8_t root[32];
    log.root(size, root);
    Sink body;
    core::write_tree_checkpoint_body(core::Bytes{origin.data(), origin.size()}, size, root, body);
    std::uint8_t sig[64];
    EXPECT_TRUE(core::ed25519_sign(key, body.s.data(), body.s.size(), sig));
    Sha256 h;
    Sink line;
    core::Bytes n{origin.data(), origin.size()};
    core::write_signature_line(n, core::note_key_id(n, key.public_key, h), sig, line);
    return body.s + "\n" + line.s;
}

struct Witness {
    w::LogKeys logs;
    w::State state;
    Witness(const core::Ed25519Key &log_key)
    {
        Sha256 h;
        w::Vkey v;
        EXPECT_EQ(w::parse_vkey(w::format_vkey(kOrigin, w::kTypeEd25519, log_key.public_key, h), &v, h), nullptr);
        logs[kOrigin].push_back(v);
    }
    // Submits; on 200 the state moves as the tool would persist it.
    w::Decision submit(const Log &log, std::int64_t old_size, std::int64_t size, const std::string &note)
    {
        std::uint8_t proof[64][32];
        int n = old_size > 0 && old_size < size ? log.proof(old_size, size, proof) : 0;
        std::string body = w::format_add_checkpoint(old_size, proof, n, note);
        w::AddCheckpoint req;
        EXPECT_EQ(w::parse_add_checkpoint(body.data(), body.size(), &req), nullptr);
        Sha256 h;
        w::Decision d = w::decide(req, logs, state, h);
        if (d.status == 200)
            state[d.origin] = d.next;
        return d;
    }
};

}  // namespace

// ---- verifier keys -------------------------------------------------------------------------

TEST(WitnessVkey, PublishedKeysParseWithTheirKeyIds)
{
    Sha256 h;
    w::Vkey v;
    // A cosigning witness's published key (transparency-dev/formats' note tests), type 0x04.
    ASSERT_EQ(w::parse_vkey("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", &v, h), nullptr);
    EXPECT_EQ(v.name, "remora.n621.de");
    EXPECT_EQ(v.key_id, 0xda77ade7u);
    EXPECT_EQ(v.type, w::kTypeCosignatureV1);
    // Go's sumdb/note example key (type 0x01).
    ASSERT_EQ(w::parse_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v, h), nullptr);
    EXPECT_EQ(v.key_id, 0xc74f20a3u);
    EXPECT_EQ(v.type, w::kTypeEd25519);
    EXPECT_EQ(w::format_vkey(v.name, v.type, v.public_key, h),
              "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
}

TEST(WitnessVkey, MalformedKeysAreRefused)
{
    Sha256 h;
    w::Vkey v;
    EXPECT_NE(w::parse_vkey("remora.n621.de+da77ade8+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("remora.n621.de+da77ade7", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("rekor.sigstore.dev+12345678+AwEB", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("a b+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("remora.n621.de+DA77ADE7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2", &v, h), nullptr);
    EXPECT_NE(w::parse_vkey("remora.n621.de+da77ade7+THIS_IS_NOT_BASE64!", &v, h), nullptr);
}

// ---- cosignature/v1 ----------------------------------------------------------------------------

// The line Python's `cryptography` makes for the spec's example checkpoint, RFC 8032's TEST 1 key
// named witness.example/w1, at the spec's example time 1679315147 (its timestamp bytes,
// AAAABkGFDL, are the spec's example cosignature's too).
const char kVectorVkey[] = "witness.example/w1+eb762cc2+BNdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";
const char kVectorLine[] = "\xE2\x80\x94 witness.example/w1 63YswgAAAABkGFDL+TPmh4BYuAjsYRoqMJCWb/gWJaeRF/kmm5tlCr9sJ57D"
                           "LErur7K0yDXc2ArN+TIuotuB/HbuL3AJsp3bv/aNCQ==\n";

TEST(WitnessCosignature, MatchesAnIndependentVector)
{
    Sha256 h;
    core::Ed25519Key k = rfc8032_key();
    EXPECT_EQ(w::format_vkey("witness.example/w1", w::kTypeCosignatureV1, k.public_key, h), kVectorVkey);
    std::string msg = w::cosignature_message(core::Bytes{kSpecBody.data(), kSpecBody.size()}, 1679315147);
    EXPECT_EQ(msg, "cosignature/v1\ntime 1679315147\n" + kSpecBody);
    std::uint8_t sig[64];
    ASSERT_TRUE(core::ed25519_sign(k, msg.data(), msg.size(), sig));
    Sink line;
    std::string name = "witness.example/w1";
    core::write_cosignature_line(core::Bytes{name.data(), name.size()},
                                 w::key_id(name, w::kTypeCosignatureV1, k.public_key, h), 1679315147, sig, line);
    EXPECT_EQ(line.s, kVectorLine);

    w::Vkey v;
    ASSERT_EQ(w::parse_vkey(kVectorVkey, &v, h), nullptr);
    w::CosignatureCheck c;
    std::string lines = kVectorLine;
    ASSERT_TRUE(w::check_cosignatures(lines.data(), lines.size(), core::Bytes{kSpecBody.data(), kSpecBody.size()}, v, &c));
    EXPECT_EQ(c.valid, 1);
    EXPECT_EQ(c.invalid, 0);
    EXPECT_EQ(c.timestamp, 1679315147u);
    EXPECT_EQ(c.lines, lines);
    // Another body (one digit of the size): it does not verify.
    std::string other = kSpecBody;
    other[30] = '4';
    ASSERT_TRUE(w::check_cosignatures(lines.data(), lines.size(), core::Bytes{other.data(), other.size()}, v, &c));
    EXPECT_EQ(c.valid, 0);
    EXPECT_EQ(c.invalid, 1);
    // The spec's own example lines are other witnesses' keys: ignored, not invalid.
    std::string foreign = "\xE2\x80\x94 witness.example/w2 AWui8Sk55XjYLOijihBjhqEH6nS1ndDymE0a+6idX7pLcnoB+dhnz0854aLZgrrKbYKA7nC3HNJhm/kWl7oJlqU3rXXvpysAdyP3wQ==\n";
    ASSERT_TRUE(w::check_cosignatures(foreign.data(), foreign.size(), core::Bytes{kSpecBody.data(), kSpecBody.size()}, v, &c));
    EXPECT_EQ(c.valid + c.invalid, 0);
    std::string garbage = "not a signature line\n";
    EXPECT_FALSE(w::check_cosignatures(garbage.data(), garbage.size(), core::Bytes{kSpecBody.data(), kSpecBody.size()}, v, &c));
}

TEST(WitnessCosignature, ACosignedNoteStillParsesAndVerifiesWithTheLogKey)
{
    core::Ed25519Key log_key = key_from_byte(3);
    Log log(5);
    std::string note = signed_note(log, 5, log_key) + kVectorLine;
    core::ParsedCheckpoint p;
    ASSERT_EQ(core::parse_checkpoint(note.data(), note.size(), &p), nullptr);
    ASSERT_EQ(p.signature_count, 2);
    EXPECT_FALSE(p.signatures[0].timestamped);
    EXPECT_TRUE(p.signatures[1].timestamped);
    EXPECT_EQ(p.signatures[1].timestamp, 1679315147u);
    Sha256 h;
    core::NoteKey nk = core::make_note_key(kOrigin, log_key.public_key, h);
    core::NotePolicy policy;
    policy.key = &nk;
    EXPECT_EQ(core::check_note_signature(p, policy).outcome, core::Outcome::kOk);
}

// ---- add-checkpoint ------------------------------------------------------------------------------

TEST(WitnessRequest, TheSpecsExampleParses)
{
    std::string body =
        "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n"
        "5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n" +
        kSpecBody + "\n\xE2\x80\x94 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
    w::AddCheckpoint r;
    ASSERT_EQ(w::parse_add_checkpoint(body.data(), body.size(), &r), nullptr);
    EXPECT_EQ(r.old_size, 20852014);
    EXPECT_EQ(r.proof_len, 4);
    EXPECT_EQ(std::string(r.note, r.note_len).substr(0, kSpecBody.size()), kSpecBody);
    std::string again = w::format_add_checkpoint(r.old_size, r.proof, r.proof_len, std::string(r.note, r.note_len));
    EXPECT_EQ(again, body);
}

TEST(WitnessRequest, MalformedBodiesAreRefused)
{
    auto bad = [](const std::string &b) {
        w::AddCheckpoint r;
        return w::parse_add_checkpoint(b.data(), b.size(), &r) != nullptr;
    };
    EXPECT_TRUE(bad("old 01\n\n" + kSpecBody));
    EXPECT_TRUE(bad("old -1\n\n" + kSpecBody));
    EXPECT_TRUE(bad("old 1 \n\n" + kSpecBody));
    EXPECT_TRUE(bad("old 1\n" + kSpecBody));           // no blank line: the origin is not a hash
    EXPECT_TRUE(bad("old 1\nAAAA\n\n" + kSpecBody));   // not 32 bytes
    EXPECT_TRUE(bad("old 1\n\n"));                     // no checkpoint
    EXPECT_TRUE(bad("old 99999999999999999999\n\n" + kSpecBody));
    std::string many = "old 1\n";
    for (int i = 0; i < 64; i++)
        many += "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
    EXPECT_TRUE(bad(many + "\n" + kSpecBody));
    EXPECT_FALSE(bad("old 0\n\n" + kSpecBody));
}

// ---- the witness's decisions --------------------------------------------------------------------

TEST(WitnessDecide, ExtendsAndRefusesEverythingElseWithTheSpecsStatus)
{
    core::Ed25519Key log_key = key_from_byte(1), other_key = key_from_byte(2);
    Log log(40), fork(40, 9);
    Witness wit(log_key);

    w::Decision d = wit.submit(log, 0, 10, signed_note(log, 10, log_key));
    EXPECT_EQ(d.status, 200) << d.message;
    EXPECT_EQ(wit.state[kOrigin].size, 10);
    // A stale old size: 409 with the size cosigned.
    d = wit.submit(log, 0, 20, signed_note(log, 20, log_key));
    EXPECT_EQ(d.status, 409);
    EXPECT_EQ(d.known, 10);
    // The extension with its proof.
    d = wit.submit(log, 10, 20, signed_note(log, 20, log_key));
    EXPECT_EQ(d.status, 200) << d.message;
    // The same checkpoint again: cosigned again, nothing changes.
    d = wit.submit(log, 20, 20, signed_note(log, 20, log_key));
    EXPECT_EQ(d.status, 200) << d.message;
    // A forked log (leaf 9 rewritten, re-signed with the same key), same size: 409.
    d = wit.submit(fork, 20, 20, signed_note(fork, 20, log_key));
    EXPECT_EQ(d.status, 409);
    EXPECT_EQ(d.known, 20);
    // ... larger: its proof from 20 cannot verify against the cosigned root: 422.
    d = wit.submit(fork, 20, 30, signed_note(fork, 30, log_key));
    EXPECT_EQ(d.status, 422);
    // ... and a proof lifted from the honest log does not help.
    {
        std::uint8_t proof[64][32];
        int n = log.proof(20, 30, proof);
        std::string body = w::format_add_checkpoint(20, proof, n, signed_note(fork, 30, log_key));
        w::AddCheckpoint req;
        ASSERT_EQ(w::parse_add_checkpoint(body.data(), body.size(), &req), nullptr);
        Sha256 h;
        EXPECT_EQ(w::decide(req, wit.logs, wit.state, h).status, 422);
    }
    EXPECT_EQ(wit.state[kOrigin].size, 20);
    // Unknown origin 404; a key not trusted 403; old above size 400; a proof from 0: 422.
    EXPECT_EQ(wit.submit(log, 20, 30, signed_note(log, 30, log_key, "other.example/log")).status, 404);
    EXPECT_EQ(wit.submit(log, 20, 30, signed_note(log, 30, other_key)).status, 403);
    std::string unsigned_note = signed_note(log, 30, log_key);
    unsigned_note = unsigned_note.substr(0, unsigned_note.find("\n\n") + 1);
    EXPECT_EQ(wit.submit(log, 20, 30, unsigned_note).status, 403);  // no signature at all
    EXPECT_EQ(wit.submit(log, 31, 30, signed_note(log, 30, log_key)).status, 400);
    {
        std::uint8_t proof[64][32];
        int n = log.proof(5, 30, proof);
        std::string body = w::format_add_checkpoint(0, proof, n, signed_note(log, 30, log_key));
        w::AddCheckpoint req;
        ASSERT_EQ(w::parse_add_checkpoint(body.data(), body.size(), &req), nullptr);
        Sha256 h;
        w::State fresh;
        EXPECT_EQ(w::decide(req, wit.logs, fresh, h).status, 422);
    }
    // A note whose signed text was altered after signing: 403 (no trusted signature verifies).
    std::string altered = signed_note(log, 30, log_key);
    altered[altered.find('\n') + 1] = '4';  // the size line 30 -> 40
    EXPECT_EQ(wit.submit(log, 20, 40, altered).status, 403);
    // The honest extension still goes through.
    d = wit.submit(log, 20, 40, signed_note(log, 40, log_key));
    EXPECT_EQ(d.status, 200) << d.message;
    EXPECT_EQ(wit.state[kOrigin].size, 40);
}

// ---- the state file --------------------------------------------------------------------------------

TEST(WitnessState, RoundTripsAndRefusesATruncatedFile)
{
    w::State s;
    s["a.example/log"].size = 7;
    s["a.example/log"].root[0] = 1;
    s["b.example/log"].size = 123456789;
    std::string text = w::format_state(s);
    w::State back;
    ASSERT_EQ(w::parse_state(text.data(), text.size(), &back), nullptr);
    EXPECT_EQ(back.size(), 2u);
    EXPECT_EQ(back["a.example/log"].size, 7);
    EXPECT_EQ(back["a.example/log"].root[0], 1);
    EXPECT_EQ(w::format_state(back), text);
    EXPECT_NE(w::parse_state(text.data(), text.size() - 1, &back), nullptr);
    EXPECT_NE(w::parse_state("garbage\n", 8, &back), nullptr);
    std::string twice = text + text.substr(text.find('\n') + 1);
    EXPECT_NE(w::parse_state(twice.data(), twice.size(), &back), nullptr);
}

// ---- HTTP head ------------------------------------------------------------------------------------

TEST(WitnessHttp, HeadsParse)
{
    w::HttpHead hd;
    const char *why = nullptr;
    std::string r = "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\nbody";
    ASSERT_EQ(w::parse_http_head(r.data(), r.size(), &hd, &why), w::HeadResult::kDone);
    EXPECT_EQ(hd.method, "POST");
    EXPECT_EQ(hd.target, "/add-checkpoint");
    EXPECT_EQ(hd.content_length, 12);
    EXPECT_TRUE(hd.keep_alive);
    EXPECT_EQ(hd.head_len, r.size() - 4);
    EXPECT_EQ(w::parse_http_head(r.data(), 30, &hd, &why), w::HeadResult::kIncomplete);
    std::string c = "POST / HTTP/1.1\nConnection: close\nExpect: 100-continue\n\n";
    ASSERT_EQ(w::parse_http_head(c.data(), c.size(), &hd, &why), w::HeadResult::kDone);
    EXPECT_FALSE(hd.keep_alive);
    EXPECT_TRUE(hd.expect_continue);
    EXPECT_EQ(hd.content_length, -1);
    for (std::string b : {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                          "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "POST /\r\n\r\n", "POST / SPDY/3\r\n\r\n",
                          "POST / HTTP/1.1\r\nNoColon\r\n\r\n"})
        EXPECT_EQ(w::parse_http_head(b.data(), b.size(), &hd, &why), w::HeadResult::kBad) << b;
    std::string huge = "POST / HTTP/1.1\r\nX: " + std::string(9000, 'a');
    EXPECT_EQ(w::parse_http_head(huge.data(), huge.size(), &hd, &why), w::HeadResult::kBad);
}
