// Unit tests for the core units the offline tools use (tools/forgea_audit_verify): the strict JSON
// reader (json_text), the CSV reader (csv_reader), the note signature rule (note_signature) and
// the receipt check (receipt_check).  Built into test/unit/core_tests by `make unit` (ASan, UBSan).
// Inputs are handed over as heap copies of exactly their length, so a read past the end fails.
#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/base64.hpp"
#include "core/byte_sink.hpp"
#include "core/chain_record.hpp"
#include "core/checkpoint_note.hpp"
#include "core/csv_reader.hpp"
#include "core/ed25519.hpp"
#include "core/hasher.hpp"
#include "core/hex.hpp"
#include "core/json_text.hpp"
#include "core/merkle_tree.hpp"
#include "core/note_signature.hpp"
#include "core/receipt_check.hpp"
#include "openssl_sha256.hpp"

using namespace std::string_literals;
namespace core = forgea::core;
namespace json = forgea::core::json;

namespace {

using Sha256 = forgea::test::Sha256;

class StringSink final : public core::ByteSink {
public:
    void put(const void *data, std::size_t len) override { s.append(static_cast<const char *>(data), len); }
    std::string s;
};

std::string hex(const std::uint8_t *p, std::size_t n)
{
    std::string s(2 * n + 1, '\0');
    core::write_hex(p, n, &s[0]);
    s.pop_back();
    return s;
}

// ---- json_text -------------------------------------------------------------------------------

// Parses s from an exact heap copy; the error's text when it fails, "" when it parses.
std::string parse_error(const std::string &s, json::Value *out = nullptr)
{
    std::unique_ptr<char[]> buf(new char[s.size() + 1]);
    std::memcpy(buf.get(), s.data(), s.size());
    json::Value v;
    json::Error err;
    bool ok = json::parse(buf.get(), s.size(), out != nullptr ? out : &v, &err);
    return ok ? "" : err.what;
}

TEST(JsonText, ReadsEveryKindAndKeepsNumbersAsWritten)
{
    json::Value v;
    ASSERT_EQ(parse_error(R"( {"a": [1, -2.5e+3, true, false, null, "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"], "b": {}} )", &v), "");
    ASSERT_EQ(v.kind, json::Value::Object);
    ASSERT_EQ(v.members.size(), 2u);
    const json::Value *a = v.get("a");
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->items.size(), 6u);
    EXPECT_EQ(a->items[0].text, "1");
    EXPECT_EQ(a->items[1].text, "-2.5e+3");
    EXPECT_EQ(a->items[2].text, "true");
    EXPECT_EQ(a->items[3].text, "false");
    EXPECT_EQ(a->items[4].kind, json::Value::Null);
    EXPECT_EQ(a->items[5].text, "x\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_EQ(v.get("b")->kind, json::Value::Object);
    EXPECT_EQ(v.get("c"), nullptr);
    EXPECT_EQ(a->get("a"), nullptr);  // not an object
}

TEST(JsonText, RefusesARepeatedKeyAtAnyDepth)
{
    EXPECT_EQ(parse_error(R"({"action":"FORGED","action":"LAB_VERIFY_ATTEMPT"})"), "a key repeated in an object");
    EXPECT_EQ(parse_error(R"({"row":{"a":1},"x":[{"b":1,"c":2,"b":1}]})"), "a key repeated in an object");
    EXPECT_EQ(parse_error(R"({"row":{},"row":{}})"), "a key repeated in an object");
    // The same key as an escape and as text is the same key.
    EXPECT_EQ(parse_error(R"({"ab":1,"a\u0062":2})"), "a key repeated in an object");
    EXPECT_EQ(parse_error(R"({"a":{"a":1},"b":[{"a":1},{"a":2}]})"), "");  // same names in different objects
    // The offset names the later of the two.
    json::Value v;
    json::Error err;
    std::string s = R"({"k":1, "k":2})";
    ASSERT_FALSE(json::parse(s.data(), s.size(), &v, &err));
    EXPECT_EQ(err.offset, 8u);
    // Many keys: each is still checked (n log n, not n squared).
    std::string big = "{";
    for (int i = 0; i < 20000; i++)
        big += "\"k" + std::to_string(i) + "\":0,";
    EXPECT_EQ(parse_error(big + "\"k0\":1}"), "a key repeated in an object");
    EXPECT_EQ(parse_error(big + "\"last\":1}"), "");
}

TEST(JsonText, NumbersFollowTheGrammar)
{
    for (const char *good : {"0", "-0", "1", "-1", "10", "1.5", "1e0", "1E+2", "1e-2", "0.0", "123456789012345678901234567890"})
        EXPECT_EQ(parse_error(good), "") << good;
    for (const char *bad : {"01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x1", "1.e3", "--1", "1-2", "Infinity", "NaN"})
        EXPECT_NE(parse_error(bad), "") << bad;
}

TEST(JsonText, PlainInt64IsOnlyAPlainInteger)
{
    auto plain = [](const std::string &text, std::int64_t *out) {
        json::Value v;
        EXPECT_EQ(parse_error(text, &v), "") << text;
        return json::plain_int64(v, out);
    };
    std::int64_t n = 0;
    EXPECT_TRUE(plain("42", &n));
    EXPECT_EQ(n, 42);
    EXPECT_TRUE(plain("-1", &n));
    EXPECT_EQ(n, -1);
    EXPECT_TRUE(plain("0", &n));
    EXPECT_EQ(n, 0);
    EXPECT_TRUE(plain("-9223372036854775808", &n));
    EXPECT_EQ(n, INT64_MIN);
    EXPECT_TRUE(plain("9223372036854775807", &n));
    EXPECT_EQ(n, INT64_MAX);
    for (const char *not_plain : {"1e0", "1.0", "-0", "42e0", "4.2e1", "9223372036854775808", "-9223372036854775809",
                                  "\"42\"", "true", "null", "[42]"})
        EXPECT_FALSE(plain(not_plain, &n)) << not_plain;
    for (const char *text : {"007", "+7", "-0", "", "-", "7 ", "0x7", "1e0"})
        EXPECT_FALSE(json::plain_int64_text(text, &n)) << text;
    EXPECT_TRUE(json::plain_int64_text("-70", &n));
    EXPECT_EQ(n, -70);
}

TEST(JsonText, StringsMustBeUtf8)
{
    EXPECT_EQ(parse_error("\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\""), "");
    for (const char *bad : {"\"\xc0\xaf\"", "\"\xc1\xbf\"", "\"\xe0\x80\xaf\"", "\"\xed\xa0\x80\"", "\"\xf0\x80\x80\xaf\"",
                            "\"\xf4\x90\x80\x80\"", "\"\xf5\x80\x80\x80\"", "\"\xe2\x82\"", "\"\x80\"", "\"\xff\""})
        EXPECT_EQ(parse_error(bad), "a string that is not UTF-8") << bad;
    EXPECT_EQ(parse_error("\"\xe2\x82"), "a string that is not UTF-8");  // cut short at the end of the text
    EXPECT_EQ(parse_error(R"("\ud800")"), "a lone surrogate");
    EXPECT_EQ(parse_error(R"("\udc00")"), "a lone surrogate");
    EXPECT_EQ(parse_error(R"("\ud800\u0041")"), "a bad surrogate pair");
    EXPECT_EQ(parse_error(R"("\u12")"), "a short \\u escape");
    EXPECT_EQ(parse_error(R"("\u12g4")"), "a bad \\u escape");
    EXPECT_EQ(parse_error(R"("\x")"), "an unknown escape");
    EXPECT_EQ(parse_error("\"a\nb\""), "a control character in a string");
    EXPECT_EQ(parse_error("\"abc"), "an unterminated string");
    EXPECT_EQ(parse_error("\"abc\\"), "an unterminated escape");
}

TEST(JsonText, OneValueOnlyAndBoundedNesting)
{
    EXPECT_EQ(parse_error(""), "a value is missing");
    EXPECT_EQ(parse_error("  "), "a value is missing");
    EXPECT_EQ(parse_error("{} {}"), "text after the JSON value");
    EXPECT_EQ(parse_error("nul"), "not a JSON value");
    EXPECT_EQ(parse_error("[1,]"), "not a JSON value");
    EXPECT_EQ(parse_error("{\"a\":1,}"), "an object key is not a string");
    EXPECT_EQ(parse_error("{\"a\" 1}"), "':' missing");
    EXPECT_EQ(parse_error("{\"a\":1"), "',' or '}' missing");
    EXPECT_EQ(parse_error("[1"), "',' or ']' missing");
    EXPECT_EQ(parse_error(std::string(json::kMaxDepth + 1, '[') + std::string(json::kMaxDepth + 1, ']')), "");
    EXPECT_EQ(parse_error(std::string(json::kMaxDepth + 2, '[') + std::string(json::kMaxDepth + 2, ']')),
              "nesting too deep");
}

// ---- csv_reader ------------------------------------------------------------------------------

struct CsvRun {
    std::vector<std::vector<core::CsvField>> records;
    std::vector<long> lines;
    std::string error;
    long error_line = 0;
};

CsvRun read_csv(const std::string &text)
{
    CsvRun run;
    std::unique_ptr<char[]> buf(new char[text.size() + 1]);
    std::memcpy(buf.get(), text.data(), text.size());
    std::FILE *f = text.empty() ? std::fopen("/dev/null", "rb") : fmemopen(buf.get(), text.size(), "rb");
    EXPECT_NE(f, nullptr);
    core::CsvReader csv(f);
    std::vector<core::CsvField> fields;
    for (;;) {
        core::CsvReader::Result r = csv.next(fields);
        if (r == core::CsvReader::kEnd)
            break;
        if (r == core::CsvReader::kError) {
            run.error = csv.error();
            run.error_line = csv.error_line();
            break;
        }
        run.records.push_back(fields);
        run.lines.push_back(csv.record_line());
    }
    std::fclose(f);
    return run;
}

TEST(CsvReader, ReadsWhatCopyCsvWrites)
{
    CsvRun r = read_csv("a,b,c\n1,,\"\"\n\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\nlast,é,\"\"\"\"");
    ASSERT_EQ(r.error, "");
    ASSERT_EQ(r.records.size(), 4u);
    EXPECT_EQ(r.records[0].size(), 3u);
    EXPECT_EQ(r.records[1][0].value, "1");
    EXPECT_TRUE(r.records[1][1].null);   // unquoted empty: SQL NULL
    EXPECT_FALSE(r.records[1][2].null);  // "": an empty string
    EXPECT_EQ(r.records[1][2].value, "");
    EXPECT_EQ(r.records[2][0].value, "x,y");
    EXPECT_EQ(r.records[2][1].value, "say \"hi\"");
    EXPECT_EQ(r.records[2][2].value, "two\nlines");
    EXPECT_EQ(r.records[3][1].value, "é");
    EXPECT_EQ(r.records[3][2].value, "\"");  // the last record needs no final newline
    EXPECT_EQ((std::vector<long>{1, 2, 3, 5}), r.lines);
    EXPECT_EQ(read_csv("").records.size(), 0u);
    // Storage is reused between records of different widths without leaking old fields.
    CsvRun w = read_csv("a,b,c,d\ne\n");
    ASSERT_EQ(w.records.size(), 2u);
    EXPECT_EQ(w.records[1].size(), 1u);
    EXPECT_EQ(w.records[1][0].value, "e");
}

TEST(CsvReader, RefusesWhatCopyCsvDoesNotWrite)
{
    CsvRun r = read_csv("ok\n\"open\nnever closed");
    EXPECT_EQ(r.error, "a quoted field is not closed");
    EXPECT_EQ(r.error_line, 2);
    EXPECT_EQ(read_csv("a\"b\n").error, "a quote inside an unquoted field");
    EXPECT_EQ(read_csv("a\rb\n").error, "a carriage return outside quotes");
    r = read_csv("x\n\"a\"b\n");
    EXPECT_EQ(r.error, "unexpected character after a closing quote");
    EXPECT_EQ(r.error_line, 2);
}

// ---- notes, signatures and receipts ------------------------------------------------------------

// A fixed Ed25519 key (the private seed is any 32 bytes) and its public key.
core::Ed25519Key test_key(std::uint8_t seed_byte)
{
    core::Ed25519Key k;
    k.has_private = true;
    std::memset(k.private_key, seed_byte, 32);
    EVP_PKEY *p = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, k.private_key, 32);
    std::size_t n = 32;
    EXPECT_NE(p, nullptr);
    EXPECT_EQ(EVP_PKEY_get_raw_public_key(p, k.public_key, &n), 1);
    EVP_PKEY_free(p);
    return k;
}

// A transparency-log note of size leaves and this root, signed by key under name (or unsigned).
std::string make_note(std::int64_t size, const std::uint8_t root[core::kHashLen], const core::Ed25519Key *key,
                      const std::string &name = "forgea_audit")
{
    StringSink body;
    const std::string origin = "forgea_audit/7441931239876543210/app";
    core::write_tree_checkpoint_body(core::Bytes{origin.data(), origin.size()}, size, root, body);
    if (key == nullptr)
        return body.s;
    std::uint8_t sig[64];
    EXPECT_TRUE(core::ed25519_sign(*key, body.s.data(), body.s.size(), sig));
    Sha256 h;
    StringSink line;
    core::Bytes n{name.data(), name.size()};
    core::write_signature_line(n, core::note_key_id(n, key->public_key, h), sig, line);
    return body.s + "\n" + line.s;
}

core::ParsedCheckpoint parsed(const std::string &note)
{
    core::ParsedCheckpoint p;
    EXPECT_EQ(core::parse_checkpoint(note.data(), note.size(), &p), nullptr);
    return p;
}

TEST(NoteSignature, OnlyTheGivenKeysSignatureCounts)
{
    Sha256 h;
    core::Ed25519Key k = test_key(7), other = test_key(8);
    std::uint8_t root[core::kHashLen] = {1, 2, 3};
    core::NoteKey key = core::make_note_key("forgea_audit", k.public_key, h);
    core::NotePolicy with_key;
    with_key.key = &key;
    char id[16];
    std::snprintf(id, sizeof id, "%08x", key.key_id);

    std::string signed_note = make_note(10, root, &k);
    core::ParsedCheckpoint signed_p = parsed(signed_note);
    core::NoteVerdict v = core::check_note_signature(signed_p, with_key);
    EXPECT_EQ(v.outcome, core::Outcome::kOk);
    EXPECT_EQ(v.text, "signed by key \"forgea_audit\" (key id "s + id + ")");
    EXPECT_TRUE(v.is_signed);

    v = core::check_note_signature(parsed(make_note(10, root, &other)), with_key);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_EQ(v.text, "the checkpoint is not signed by the given public key \"forgea_audit\" (key id "s + id + ")");

    v = core::check_note_signature(parsed(make_note(10, root, &k, "another_name")), with_key);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);

    std::string altered = signed_note;
    altered[altered.find("\n10\n") + 2] = '1';  // size 11, the signature kept
    v = core::check_note_signature(parsed(altered), with_key);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_EQ(v.text, "the checkpoint's signature by key \"forgea_audit\" does not verify (the note was altered)");

    core::ParsedCheckpoint unsigned_p = parsed(make_note(10, root, nullptr));
    v = core::check_note_signature(unsigned_p, with_key);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_NE(v.text.find("not signed"), std::string::npos);
    EXPECT_NE(v.text.find(id), std::string::npos);

    core::NotePolicy none;
    v = core::check_note_signature(unsigned_p, none);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed) << "an unsigned note is not accepted by default";
    EXPECT_FALSE(v.is_signed);
    v = core::check_note_signature(signed_p, none);
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << "a signed note needs the key to check it";

    core::NotePolicy allow;
    allow.allow_unsigned = true;
    v = core::check_note_signature(unsigned_p, allow);
    EXPECT_EQ(v.outcome, core::Outcome::kOk);
    EXPECT_EQ(v.text, "unsigned, accepted with --allow-unsigned: no signature checked");
    v = core::check_note_signature(signed_p, allow);
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << "--allow-unsigned does not skip a signature that is there";
}

// After a key rotation: a note signed by any of the given keys holds, the verdict names that key
// (signer is its index); signed by none, the verdict names every key id.
TEST(NoteSignature, AnyOfSeveralKeysOfTheLog)
{
    Sha256 h;
    core::Ed25519Key now = test_key(11), before = test_key(12), stranger = test_key(13);
    std::uint8_t root[core::kHashLen] = {4, 5, 6};
    core::NoteKey keys[2] = {core::make_note_key("forgea_audit", now.public_key, h),
                             core::make_note_key("forgea_audit", before.public_key, h)};
    core::NotePolicy both;
    both.key = keys;
    both.key_count = 2;
    char ids[2][16];
    for (int i = 0; i < 2; i++)
        std::snprintf(ids[i], sizeof ids[i], "%08x", keys[i].key_id);

    core::NoteVerdict v = core::check_note_signature(parsed(make_note(10, root, &before)), both);
    EXPECT_EQ(v.outcome, core::Outcome::kOk);
    EXPECT_EQ(v.signer, 1);
    EXPECT_EQ(v.text, "signed by key \"forgea_audit\" (key id "s + ids[1] + ")");
    v = core::check_note_signature(parsed(make_note(10, root, &now)), both);
    EXPECT_EQ(v.outcome, core::Outcome::kOk);
    EXPECT_EQ(v.signer, 0);
    v = core::check_note_signature(parsed(make_note(10, root, &stranger)), both);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_EQ(v.text, "the checkpoint is not signed by any of the given public keys \"forgea_audit\" (key ids "s + ids[0] + ", " +
                          ids[1] + ")");
    std::string altered = make_note(10, root, &before);
    altered[altered.find("\n10\n") + 2] = '1';
    v = core::check_note_signature(parsed(altered), both);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed) << "a retired key's signature on an altered note does not hold";
    EXPECT_EQ(v.text, "the checkpoint's signature by key \"forgea_audit\" does not verify (the note was altered)");
}

// A receipt as forgea_audit.receipt() writes it (jsonb's output: ", " and ": " separators), for
// the attempt 42 row, leaf 1 of a tree of 2 leaves, signed by k.
struct Receipt {
    std::string text;
    std::int64_t seq = 18;
    // The same receipt as forgea_audit.receipt_tlog_proof() writes it (C2SP tlog-proof@v1), and its parts.
    std::string tlog, row_json, proof_b64, note;
};

std::string b64(const std::string &s)
{
    StringSink out;
    core::base64_encode(reinterpret_cast<const std::uint8_t *>(s.data()), s.size(), out);
    return out.s;
}

// The tlog-proof of a row (its JSON as extra), at index, with these base64 proof lines and note.
std::string make_tlog(const std::string &row_json, const std::string &index, const std::vector<std::string> &proof,
                      const std::string &note)
{
    std::string t = "c2sp.org/tlog-proof@v1\nextra " + b64(row_json) + "\nindex " + index + "\n";
    for (const std::string &p : proof)
        t += p + "\n";
    return t + "\n" + note;
}

Receipt make_receipt(const core::Ed25519Key *k)
{
    Sha256 h;
    std::uint8_t prev[core::kHashLen];
    std::memset(prev, 0xab, sizeof prev);
    auto b = [](const char *s) { return core::Bytes{s, std::strlen(s)}; };
    core::AuditRecord rec;
    rec.seq = 18;
    rec.chain_id = b("session:s-1");
    rec.chain_pos = 3;
    rec.prev_hash = prev;
    rec.created_at_unix_us = 1795402567123456;
    rec.actor_type = b("webhook");
    rec.actor_id = b("github");
    rec.action = b("LAB_VERIFY_ATTEMPT");
    rec.target_type = b("lab_attempt");
    rec.target_id = b("42");
    rec.outcome = b("success");
    rec.severity = b("INFO");
    rec.metadata_json = b("{\"after\":\"x\"}");
    rec.correlation_id = b("00000000-0000-4000-8000-000000000001");
    std::uint8_t row_hash[core::kHashLen], other_leaf[core::kHashLen], leaf[core::kHashLen], root[core::kHashLen];
    core::hash_record_v1(rec, h, row_hash);
    std::uint8_t other_row[core::kHashLen] = {9};
    core::merkle::leaf_hash(h, other_row, core::kHashLen, other_leaf);
    core::merkle::leaf_hash(h, row_hash, core::kHashLen, leaf);
    const std::uint8_t one = 1;
    h.put(&one, 1);
    h.put(other_leaf, core::kHashLen);
    h.put(leaf, core::kHashLen);
    h.finish(root);
    std::string note = make_note(2, root, k);
    std::string note_json;
    for (char c : note)
        note_json += c == '\n' ? "\\n"s : std::string(1, c);
    Receipt r;
    r.row_json = "{\"seq\": 18, \"proof\": null, \"action\": \"LAB_VERIFY_ATTEMPT\", \"outcome\": \"success\", "
                 "\"user_id\": null, \"actor_id\": \"github\", \"chain_id\": \"session:s-1\", \"metadata\": "
                 "\"{\\\"after\\\":\\\"x\\\"}\", \"severity\": \"INFO\", \"chain_pos\": 3, \"prev_hash\": \"" +
                 hex(prev, core::kHashLen) +
                 "\", \"tenant_id\": null, \"target_id\": \"42\", \"actor_type\": \"webhook\", \"parent_seq\": null, "
                 "\"target_type\": \"lab_attempt\", \"hash_version\": 1, \"created_at_us\": 1795402567123456, "
                 "\"correlation_id\": \"00000000-0000-4000-8000-000000000001\"}";
    r.text = "{\"row\": " + r.row_json + ", \"version\": 1, \"row_hash\": \"" +
             hex(row_hash, core::kHashLen) + "\", \"tree_size\": 2, \"attempt_id\": 42, \"checkpoint\": \"" + note_json +
             "\", \"leaf_index\": 1, \"inclusion_proof\": [\"" + hex(other_leaf, core::kHashLen) + "\"]}";
    r.proof_b64 = b64(std::string(reinterpret_cast<const char *>(other_leaf), core::kHashLen));
    r.note = note;
    r.tlog = make_tlog(r.row_json, "1", {r.proof_b64}, note);
    return r;
}

std::string replaced(std::string s, const std::string &from, const std::string &to)
{
    std::size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos)
        s.replace(at, from.size(), to);
    return s;
}

class ReceiptCheck : public ::testing::Test {
protected:
    void SetUp() override
    {
        Sha256 h;
        key_ = test_key(7);
        note_key_ = core::make_note_key("forgea_audit", key_.public_key, h);
        policy_.key = &note_key_;
        receipt_ = make_receipt(&key_);
    }

    core::ReceiptVerdict check(const std::string &text, const core::NotePolicy *policy = nullptr)
    {
        Sha256 h;
        std::unique_ptr<char[]> buf(new char[text.size() + 1]);
        std::memcpy(buf.get(), text.data(), text.size());
        return core::check_receipt(buf.get(), text.size(), policy != nullptr ? *policy : policy_, h);
    }

    core::Ed25519Key key_;
    core::NoteKey note_key_;
    core::NotePolicy policy_;
    Receipt receipt_;
};

TEST_F(ReceiptCheck, AGenuineReceiptVerifiesAndTheVerdictNamesTheKey)
{
    core::ReceiptVerdict v = check(receipt_.text);
    ASSERT_EQ(v.outcome, core::Outcome::kOk) << v.text;
    char id[16];
    std::snprintf(id, sizeof id, "%08x", note_key_.key_id);
    EXPECT_EQ(v.text, "audit row 18 (LAB_VERIFY_ATTEMPT) of attempt 42 is leaf 1 of the checkpoint of 2 leaves, signed by "
                      "key \"forgea_audit\" (key id "s + id + ")");
}

// receipt() always names the attempt of the row it holds: a receipt of attempt 42's row whose
// attempt_id was set to null is altered, and fails (it used to pass as "no attempt claimed").
TEST_F(ReceiptCheck, AnAttemptsRowWithAttemptIdNullFails)
{
    core::ReceiptVerdict v = check(replaced(receipt_.text, "\"attempt_id\": 42", "\"attempt_id\": null"));
    ASSERT_EQ(v.outcome, core::Outcome::kFailed) << v.text;
    EXPECT_TRUE(v.has_seq);
    EXPECT_EQ(v.seq, 18);
    EXPECT_EQ(v.text, "the receipt's row is attempt 42's LAB_VERIFY_ATTEMPT row, but its attempt_id is null "
                      "(receipt() always names the attempt)");
}

TEST_F(ReceiptCheck, RepeatedKeysAreRefusedWhereverTheyAre)
{
    core::ReceiptVerdict v = check(replaced(receipt_.text, "\"action\": \"LAB_VERIFY_ATTEMPT\"",
                                            "\"action\":\"FORGED\",\"action\":\"LAB_VERIFY_ATTEMPT\""));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_NE(v.text.find("a key repeated in an object"), std::string::npos) << v.text;
    v = check(replaced(receipt_.text, "\"version\": 1", "\"row\": {\"seq\": 1}, \"version\": 1"));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_NE(v.text.find("a key repeated in an object"), std::string::npos) << v.text;
    v = check(replaced(receipt_.text, "\"tree_size\": 2", "\"tree_size\": 2, \"tree_size\": 2"));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
}

TEST_F(ReceiptCheck, TheAttemptMustBeTheRows)
{
    for (const char *other : {"43", "-1", "0", "420"}) {
        core::ReceiptVerdict v = check(replaced(receipt_.text, "\"attempt_id\": 42", "\"attempt_id\": "s + other));
        EXPECT_EQ(v.outcome, core::Outcome::kFailed) << other;
        EXPECT_TRUE(v.has_seq);
        EXPECT_EQ(v.seq, 18);
        EXPECT_EQ(v.text, "the receipt names attempt "s + other +
                              ", but its row is not that attempt's LAB_VERIFY_ATTEMPT row (action \"LAB_VERIFY_ATTEMPT\", "
                              "target_type \"lab_attempt\", target_id \"42\")");
    }
    for (const char *not_plain : {"1e0", "42.0", "4.2e1", "\"42\"", "true", "[42]", "-0"}) {
        core::ReceiptVerdict v = check(replaced(receipt_.text, "\"attempt_id\": 42", "\"attempt_id\": "s + not_plain));
        EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << not_plain;
        EXPECT_NE(v.text.find("attempt_id"), std::string::npos) << v.text;
    }
}

TEST_F(ReceiptCheck, OnlyVersionOneWithExactlyItsMembers)
{
    core::ReceiptVerdict v = check(replaced(receipt_.text, "\"version\": 1", "\"version\": 2"));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_EQ(v.text, "the receipt is of version 2; this tool reads version 1 only");
    for (const char *not_plain : {"1.0", "1e0", "\"1\"", "null"})
        EXPECT_EQ(check(replaced(receipt_.text, "\"version\": 1", "\"version\": "s + not_plain)).outcome,
                  core::Outcome::kBadInput)
            << not_plain;
    v = check(replaced(receipt_.text, "\"version\": 1, ", ""));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_EQ(v.text, "the receipt has no \"version\" in the receipt");
    v = check(replaced(receipt_.text, "\"version\": 1", "\"version\": 1, \"verified\": true"));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_EQ(v.text, "the receipt has a member \"verified\" that receipts do not have");
    v = check(replaced(receipt_.text, "\"proof\": null", "\"proof\": null, \"note\": \"x\""));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_EQ(v.text, "row has a member \"note\" that receipts do not have");
}

TEST_F(ReceiptCheck, IntegersArePlainIntegersEverywhere)
{
    for (const auto &pair : std::vector<std::pair<std::string, std::string>>{
             {"\"seq\": 18", "\"seq\": 18.0"}, {"\"seq\": 18", "\"seq\": 1.8e1"}, {"\"chain_pos\": 3", "\"chain_pos\": 3e0"},
             {"\"hash_version\": 1", "\"hash_version\": 1.0"}, {"\"leaf_index\": 1", "\"leaf_index\": 1e0"},
             {"\"tree_size\": 2", "\"tree_size\": 2.0"}, {"\"parent_seq\": null", "\"parent_seq\": 1.5"},
             {"\"created_at_us\": 1795402567123456", "\"created_at_us\": 1.795402567123456e15"},
             {"\"seq\": 18", "\"seq\": \"18\""}}) {
        core::ReceiptVerdict v = check(replaced(receipt_.text, pair.first, pair.second));
        EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << pair.second;
        EXPECT_NE(v.text.find("is not an integer"), std::string::npos) << v.text;
    }
}

TEST_F(ReceiptCheck, TheNoteMustBeSignedByTheKey)
{
    core::ReceiptVerdict v = check(receipt_.text, &policy_);
    ASSERT_EQ(v.outcome, core::Outcome::kOk);
    core::Ed25519Key other = test_key(8);
    Sha256 h;
    core::NoteKey other_key = core::make_note_key("forgea_audit", other.public_key, h);
    core::NotePolicy other_policy;
    other_policy.key = &other_key;
    v = check(receipt_.text, &other_policy);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_FALSE(v.has_seq);
    core::NotePolicy none;
    EXPECT_EQ(check(receipt_.text, &none).outcome, core::Outcome::kBadInput);

    Receipt unsigned_receipt = make_receipt(nullptr);
    EXPECT_EQ(check(unsigned_receipt.text, &policy_).outcome, core::Outcome::kFailed);
    v = check(unsigned_receipt.text, &none);
    EXPECT_EQ(v.outcome, core::Outcome::kFailed) << "an unsigned note proves nothing unless allowed";
    core::NotePolicy allow;
    allow.allow_unsigned = true;
    v = check(unsigned_receipt.text, &allow);
    EXPECT_EQ(v.outcome, core::Outcome::kOk) << v.text;
    EXPECT_NE(v.text.find("--allow-unsigned"), std::string::npos);
}

TEST_F(ReceiptCheck, AlteredFieldsFail)
{
    core::ReceiptVerdict v = check(replaced(receipt_.text, "\"severity\": \"INFO\"", "\"severity\": \"LOW\""));
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    EXPECT_EQ(v.text, "the row's fields do not hash to the receipt's row_hash (the row or the hash was altered)");
    v = check(replaced(receipt_.text, "\"leaf_index\": 1", "\"leaf_index\": 0"));
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    v = check(replaced(receipt_.text, "\"tree_size\": 2", "\"tree_size\": 3"));
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    v = check(replaced(receipt_.text, "\"hash_version\": 1", "\"hash_version\": 2"));
    EXPECT_EQ(v.outcome, core::Outcome::kFailed);
    // A hash that is not hex is not a receipt (the fuzzer's first find: a digit's value of -1
    // was shifted before it was refused).
    std::string bad_hex = receipt_.text;
    bad_hex[bad_hex.find("\"row_hash\": \"") + 13] = 'g';
    v = check(bad_hex);
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput);
    EXPECT_EQ(v.text, "the receipt's row_hash is not 64 hex digits");
    // Every truncation of the receipt is refused, none read past its end.
    for (std::size_t n = 0; n < receipt_.text.size(); n++)
        EXPECT_EQ(check(receipt_.text.substr(0, n)).outcome, core::Outcome::kBadInput) << n;
}

// ---- the same receipt as a C2SP tlog-proof@v1 -----------------------------------------------

TEST_F(ReceiptCheck, ATlogProofVerifiesWithTheSameVerdict)
{
    core::ReceiptVerdict json = check(receipt_.text);
    ASSERT_EQ(json.outcome, core::Outcome::kOk) << json.text;
    core::ReceiptVerdict v = check(receipt_.tlog);
    ASSERT_EQ(v.outcome, core::Outcome::kOk) << v.text;
    EXPECT_EQ(v.text, json.text) << "the attempt is the row's target_id";
    EXPECT_TRUE(v.has_seq);
    EXPECT_EQ(v.seq, 18);
    EXPECT_TRUE(core::is_tlog_proof(receipt_.tlog.data(), receipt_.tlog.size()));
    EXPECT_FALSE(core::is_tlog_proof(receipt_.text.data(), receipt_.text.size()));
    // A row that is no attempt's is still a row of the log: the verdict then names no attempt.
    std::string row = replaced(receipt_.row_json, "\"action\": \"LAB_VERIFY_ATTEMPT\"", "\"action\": \"LAB_NOTE\"");
    v = check(make_tlog(row, "1", {receipt_.proof_b64}, receipt_.note));
    EXPECT_EQ(v.outcome, core::Outcome::kFailed) << "another row: another leaf";
}

TEST_F(ReceiptCheck, EveryFieldOfATlogProofAlteredFails)
{
    auto failed = [&](const std::string &t, const std::string &why) {
        core::ReceiptVerdict v = check(t);
        EXPECT_EQ(v.outcome, core::Outcome::kFailed) << why << ": " << v.text;
        return v;
    };
    // Each field of the row in extra (the row_hash, hence the leaf, changes).
    for (const auto &pair : std::vector<std::pair<std::string, std::string>>{
             {"\"seq\": 18", "\"seq\": 19"}, {"\"target_id\": \"42\"", "\"target_id\": \"43\""},
             {"\"user_id\": null", "\"user_id\": \"u\""}, {"\"chain_pos\": 3", "\"chain_pos\": 4"},
             {"\"created_at_us\": 1795402567123456", "\"created_at_us\": 1795402567123457"},
             {"\"severity\": \"INFO\"", "\"severity\": \"LOW\""}, {"\"proof\": null", "\"proof\": \"{}\""}}) {
        core::ReceiptVerdict v =
            failed(make_tlog(replaced(receipt_.row_json, pair.first, pair.second), "1", {receipt_.proof_b64}, receipt_.note),
                   pair.second);
        EXPECT_NE(v.text.find("does not lead to the checkpoint's root"), std::string::npos) << v.text;
    }
    core::ReceiptVerdict v = failed(make_tlog(receipt_.row_json, "0", {receipt_.proof_b64}, receipt_.note), "index 0");
    EXPECT_EQ(v.text, "the inclusion proof of leaf 0 does not lead to the checkpoint's root");
    v = failed(make_tlog(receipt_.row_json, "2", {receipt_.proof_b64}, receipt_.note), "index 2");
    EXPECT_EQ(v.text, "the tlog-proof's index 2 is not a leaf of the checkpoint of 2 leaves");
    std::string other_hash = b64(std::string(32, 'x'));
    failed(make_tlog(receipt_.row_json, "1", {other_hash}, receipt_.note), "another proof hash");
    failed(make_tlog(receipt_.row_json, "1", {}, receipt_.note), "no proof hash");
    failed(make_tlog(receipt_.row_json, "1", {receipt_.proof_b64, receipt_.proof_b64}, receipt_.note), "a hash too many");
    // The note: its size, its root, its signature.
    std::string note = receipt_.note;
    std::size_t root_at = note.find('\n', note.find('\n') + 1) + 1;
    std::string other_root = note;
    other_root[root_at] = other_root[root_at] == 'A' ? 'B' : 'A';
    v = failed(make_tlog(receipt_.row_json, "1", {receipt_.proof_b64}, other_root), "another root");
    EXPECT_FALSE(v.has_seq) << "the note's signature fails first";
    std::string other_sig = note;
    other_sig[other_sig.size() - 5] = other_sig[other_sig.size() - 5] == 'A' ? 'B' : 'A';
    v = failed(make_tlog(receipt_.row_json, "1", {receipt_.proof_b64}, other_sig), "another signature");
    EXPECT_FALSE(v.has_seq);
    // Signed by another key, or not at all.
    core::Ed25519Key other = test_key(8);
    Sha256 h;
    core::NoteKey other_key = core::make_note_key("forgea_audit", other.public_key, h);
    core::NotePolicy other_policy;
    other_policy.key = &other_key;
    EXPECT_EQ(check(receipt_.tlog, &other_policy).outcome, core::Outcome::kFailed);
    Receipt unsigned_receipt = make_receipt(nullptr);
    EXPECT_EQ(check(unsigned_receipt.tlog).outcome, core::Outcome::kFailed);
    core::NotePolicy allow;
    allow.allow_unsigned = true;
    v = check(unsigned_receipt.tlog, &allow);
    EXPECT_EQ(v.outcome, core::Outcome::kOk) << v.text;
}

TEST_F(ReceiptCheck, AMalformedTlogProofIsBadInputSayingWhy)
{
    const std::string &t = receipt_.tlog;
    std::string extra_line = "extra " + b64(receipt_.row_json) + "\n";
    for (const auto &pair : std::vector<std::pair<std::string, std::string>>{
             {replaced(t, "c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v2\n"), "the first line must be"},
             {replaced(t, "c2sp.org/tlog-proof@v1\n", "c2sp.org/tlog-proof@v1 \n"), "the first line must be"},
             {replaced(t, extra_line, ""), "has no \"extra\" line"},
             {replaced(t, extra_line, "extra\n"), "has no \"extra\" line"},
             {replaced(t, extra_line, "extra " + b64(receipt_.row_json).substr(1) + "\n"), "extra is not standard base64"},
             {replaced(t, extra_line, "extra " + b64("{\"seq\": 18") + "\n"), "extra is not the row's JSON"},
             {replaced(t, extra_line, "extra " + b64("[18]") + "\n"), "is not a JSON object"},
             {replaced(t, extra_line,
                       "extra " + b64(replaced(receipt_.row_json, "\"seq\": 18, ", "")) + "\n"),
              "has no \"seq\" in the tlog-proof's extra"},
             {replaced(t, extra_line,
                       "extra " + b64(replaced(receipt_.row_json, "\"seq\": 18", "\"seq\": 18, \"seq\": 17")) + "\n"),
              "a key repeated in an object"},
             {replaced(t, extra_line,
                       "extra " + b64(replaced(receipt_.row_json, "\"seq\": 18", "\"seq\": 18.0")) + "\n"),
              "\"seq\" in the tlog-proof's extra is not an integer"},
             {replaced(t, "index 1\n", "index 01\n"), "is not a decimal without leading zeroes"},
             {replaced(t, "index 1\n", "index -1\n"), "is not a decimal without leading zeroes"},
             {replaced(t, "index 1\n", "index 1e0\n"), "is not a decimal without leading zeroes"},
             {replaced(t, "index 1\n", "index \n"), "is not a decimal without leading zeroes"},
             {replaced(t, "index 1\n", "index 99999999999999999999\n"), "is not a decimal without leading zeroes"},
             {replaced(t, "index 1\n", ""), "has no \"index\" line"},
             {replaced(t, receipt_.proof_b64 + "\n", receipt_.proof_b64.substr(0, 40) + "\n"), "line 1 of the tlog-proof's inclusion proof"},
             {replaced(t, receipt_.proof_b64 + "\n", b64(std::string(31, 'x')) + "\n"), "line 1 of the tlog-proof's inclusion proof"},
             {replaced(t, receipt_.proof_b64 + "\n\n", receipt_.proof_b64 + "\n"), "line 2 of the tlog-proof's inclusion proof"},
             {t.substr(0, t.find("\n\n") + 1), "has no empty line between"},
             {replaced(t, "index 1\n", "index 1\r\n"), "carriage return"},
             {"c2sp.org/tlog-proof@v1", "the first line must be"},
         }) {
        core::ReceiptVerdict v = check(pair.first);
        EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << pair.second << ": " << v.text;
        EXPECT_NE(v.text.find(pair.second), std::string::npos) << pair.second << " / " << v.text;
    }
    // A 0.1.0 note has no tree.
    std::string heads_note = "forgea_audit/1/app\n1\n" + b64(std::string(32, 'r')) + "\nseq 1\nchains 1\ntime 1\n";
    core::NotePolicy allow;
    allow.allow_unsigned = true;
    core::ReceiptVerdict v = check(make_tlog(receipt_.row_json, "1", {receipt_.proof_b64}, heads_note), &allow);
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << v.text;
    EXPECT_NE(v.text.find("0.1.0 chain-heads checkpoint"), std::string::npos) << v.text;
    // 64 proof lines: more than a tree of int64 size has levels.
    std::vector<std::string> many(64, receipt_.proof_b64);
    v = check(make_tlog(receipt_.row_json, "1", many, receipt_.note));
    EXPECT_EQ(v.outcome, core::Outcome::kBadInput) << v.text;
}

}  // namespace
