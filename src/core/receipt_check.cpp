// The offline check of a receipt (receipt_check.hpp).
#include "receipt_check.hpp"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base64.hpp"
#include "chain_record.hpp"
#include "checkpoint_note.hpp"
#include "hex.hpp"
#include "json_text.hpp"
#include "merkle_tree.hpp"

namespace forgea::core {

namespace {

using json::Value;

// The members receipt() writes, and those of its "row"; nothing else is accepted.
const char *const kReceiptMembers[] = {"version", "attempt_id", "row_hash", "leaf_index", "tree_size",
                                       "inclusion_proof", "checkpoint", "row"};
const char *const kRowMembers[] = {"seq", "chain_id", "chain_pos", "prev_hash", "hash_version", "created_at_us",
                                   "tenant_id", "user_id", "actor_type", "actor_id", "action", "target_type",
                                   "target_id", "outcome", "severity", "metadata", "proof", "correlation_id",
                                   "parent_seq"};

std::string format(const char *fmt, ...)
{
    char buf[1024];
    std::va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

// Thrown inside this file only (check_receipt catches it): the first problem ends the check.
struct Stop {
    ReceiptVerdict verdict;
};

[[noreturn]] void bad_input(const std::string &why)
{
    Stop s;
    s.verdict.outcome = Outcome::kBadInput;
    s.verdict.text = why;
    throw s;
}

[[noreturn]] void failed(std::int64_t seq, const std::string &detail)
{
    Stop s;
    s.verdict.outcome = Outcome::kFailed;
    s.verdict.text = detail;
    s.verdict.has_seq = true;
    s.verdict.seq = seq;
    throw s;
}

// obj has exactly these members (each once: the parser refused repeats).
template <std::size_t N>
void exact_members(const Value &obj, const char *const (&names)[N], const char *where)
{
    if (obj.kind != Value::Object)
        bad_input(format("%s is not a JSON object", where));
    for (const char *n : names)
        if (obj.get(n) == nullptr)
            bad_input(format("the receipt has no \"%s\" in %s", n, where));
    if (obj.members.size() != N)
        for (const auto &m : obj.members) {
            bool known = false;
            for (const char *n : names)
                known = known || m.first == n;
            if (!known)
                bad_input(format("%s has a member \"%.100s\" that receipts do not have", where, m.first.c_str()));
        }
}

std::int64_t int_member(const Value &obj, const char *key, const char *where)
{
    std::int64_t out;
    if (!json::plain_int64(*obj.get(key), &out))
        bad_input(format("the receipt's \"%s\" in %s is not an integer (a plain one: no fraction, no exponent)", key,
                         where));
    return out;
}

// A nullable text field of the row: JSON null is SQL NULL, a string its bytes.
Bytes text_member(const Value &row, const char *key)
{
    const Value &v = *row.get(key);
    if (v.kind == Value::Null)
        return Bytes{};
    if (v.kind != Value::String)
        bad_input(format("the receipt's row field \"%s\" is neither a string nor null", key));
    return Bytes{v.text.data(), v.text.size()};
}

void hex_hash(const Value &v, const char *what, std::uint8_t out[kHashLen])
{
    bool ok = v.kind == Value::String && v.text.size() == 2 * kHashLen;
    for (std::size_t i = 0; ok && i < kHashLen; i++) {
        int hi = hex_digit_value(v.text[2 * i]), lo = hex_digit_value(v.text[2 * i + 1]);
        ok = hi >= 0 && lo >= 0;
        if (ok)
            out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    if (!ok)
        bad_input(format("the receipt's %s is not 64 hex digits", what));
}

bool same(Bytes b, const char *s)
{
    return !b.is_null() && b.len == std::strlen(s) && std::memcmp(b.data, s, b.len) == 0;
}

std::string quoted(Bytes b)
{
    if (b.is_null())
        return "NULL";
    return "\"" + std::string(b.data, b.len < 100 ? b.len : 100) + "\"";
}

// The note of a receipt in either form: parsed, a transparency-log note, signed per policy.
// Refused before the row is looked at (a failed signature has first_bad_seq NULL).
NoteVerdict check_note(const char *text, std::size_t len, const char *where, const NotePolicy &policy,
                       ParsedCheckpoint *note)
{
    if (const char *why = parse_checkpoint(text, len, note))
        bad_input(format("invalid checkpoint (%s): %s", where, why));
    if (!note->body.tree)
        bad_input(format("the %s is a 0.1.0 chain-heads checkpoint, not a transparency-log note: it has no tree to "
                         "prove against",
                         where));
    NoteVerdict signature = check_note_signature(*note, policy);
    if (signature.outcome == Outcome::kBadInput)
        bad_input(signature.text);
    if (signature.outcome == Outcome::kFailed) {
        Stop s;
        s.verdict.outcome = Outcome::kFailed;
        s.verdict.text = signature.text;
        throw s;
    }
    return signature;
}

// The audit row as receipt() writes it ("row"; a tlog-proof's extra): exactly its members, read
// into rec (whose prev_hash points at prev), and the row_hash its fields give (hash_version 1).
void read_row(const Value &row, const char *where, AuditRecord *out, std::uint8_t prev[kHashLen],
              Hasher &h, std::uint8_t row_hash[kHashLen])
{
    exact_members(row, kRowMembers, where);
    hex_hash(*row.get("prev_hash"), "row's prev_hash", prev);
    AuditRecord rec;
    rec.seq = int_member(row, "seq", where);
    rec.chain_id = text_member(row, "chain_id");
    rec.chain_pos = int_member(row, "chain_pos", where);
    rec.prev_hash = prev;
    rec.created_at_unix_us = int_member(row, "created_at_us", where);
    rec.tenant_id = text_member(row, "tenant_id");
    rec.user_id = text_member(row, "user_id");
    rec.actor_type = text_member(row, "actor_type");
    rec.actor_id = text_member(row, "actor_id");
    rec.action = text_member(row, "action");
    rec.target_type = text_member(row, "target_type");
    rec.target_id = text_member(row, "target_id");
    rec.outcome = text_member(row, "outcome");
    rec.severity = text_member(row, "severity");
    rec.metadata_json = text_member(row, "metadata");  // canonical JSON text: hashed verbatim
    rec.proof_json = text_member(row, "proof");
    rec.correlation_id = text_member(row, "correlation_id");
    rec.parent_seq.is_null = row.get("parent_seq")->kind == Value::Null;
    if (!rec.parent_seq.is_null)
        rec.parent_seq.value = int_member(row, "parent_seq", where);
    if (int_member(row, "hash_version", where) != 1)
        failed(rec.seq, "the row's hash_version is not 1, the only encoding this tool knows");
    hash_record_v1(rec, h, row_hash);
    *out = rec;
}

// Whether the row is attempt `attempt`'s LAB_VERIFY_ATTEMPT row.
bool is_attempt_row(const AuditRecord &rec, std::int64_t attempt)
{
    return same(rec.action, "LAB_VERIFY_ATTEMPT") && same(rec.target_type, "lab_attempt") &&
           same(rec.target_id, std::to_string(attempt).c_str());
}

// The attempt a LAB_VERIFY_ATTEMPT row of target lab_attempt is of (its target_id, a plain
// integer), if it is one.
bool attempt_of_row(const AuditRecord &rec, std::int64_t *attempt)
{
    if (!same(rec.action, "LAB_VERIFY_ATTEMPT") || !same(rec.target_type, "lab_attempt") || rec.target_id.is_null())
        return false;
    return json::plain_int64_text(std::string(rec.target_id.data, rec.target_id.len), attempt) &&
           is_attempt_row(rec, *attempt);
}

// The leaf of row_hash at leaf_index, with the proof's path (kHashLen bytes a hash), leads to the
// note's root.
void check_inclusion(Hasher &h, const AuditRecord &rec, const std::uint8_t row_hash[kHashLen],
                     std::int64_t leaf_index, const ParsedCheckpoint &note, const std::uint8_t *path,
                     std::size_t n)
{
    std::uint8_t leaf[kHashLen];
    merkle::leaf_hash(h, row_hash, kHashLen, leaf);
    if (!merkle::verify_inclusion(h, leaf_index, note.body.size, leaf,
                                  reinterpret_cast<const std::uint8_t(*)[kHashLen]>(path), static_cast<int>(n),
                                  note.body.root))
        failed(rec.seq, format("the inclusion proof of leaf %" PRId64 " does not lead to the checkpoint's root", leaf_index));
}

ReceiptVerdict ok_verdict(const AuditRecord &rec, bool has_attempt, std::int64_t attempt, std::int64_t leaf_index,
                          std::int64_t tree_size, const NoteVerdict &signature)
{
    ReceiptVerdict ok;
    ok.outcome = Outcome::kOk;
    ok.has_seq = true;
    ok.seq = rec.seq;
    ok.signer = signature.signer;
    std::string claim = has_attempt ? format(" of attempt %" PRId64, attempt) : "";
    ok.text = format("audit row %" PRId64 " (%.*s)%s is leaf %" PRId64 " of the checkpoint of %" PRId64 " leaves, %s",
                     rec.seq, static_cast<int>(rec.action.len < 100 ? rec.action.len : 100),
                     rec.action.is_null() ? "" : rec.action.data, claim.c_str(), leaf_index, tree_size,
                     signature.text.c_str());
    return ok;
}

ReceiptVerdict check_json(const char *text, std::size_t len, const NotePolicy &policy, Hasher &h)
{
    Value r;
    json::Error err;
    if (!json::parse(text, len, &r, &err))
        bad_input(format("not a receipt (offset %zu: %s)", err.offset, err.what));
    exact_members(r, kReceiptMembers, "the receipt");
    std::int64_t version = int_member(r, "version", "the receipt");
    if (version != 1)
        bad_input(format("the receipt is of version %" PRId64 "; this tool reads version 1 only", version));
    const Value &row = *r.get("row");
    exact_members(row, kRowMembers, "row");

    const Value &note_v = *r.get("checkpoint");
    if (note_v.kind != Value::String)
        bad_input("the receipt's checkpoint is not a string");
    ParsedCheckpoint note;
    NoteVerdict signature = check_note(note_v.text.data(), note_v.text.size(), "receipt's checkpoint", policy, &note);

    const Value &attempt_v = *r.get("attempt_id");
    std::int64_t attempt = 0;
    if (attempt_v.kind != Value::Null && !json::plain_int64(attempt_v, &attempt))
        bad_input("the receipt's \"attempt_id\" is neither an integer (a plain one: no fraction, no exponent) nor null");
    std::uint8_t row_hash[kHashLen];
    hex_hash(*r.get("row_hash"), "row_hash", row_hash);
    std::int64_t leaf_index = int_member(r, "leaf_index", "the receipt");
    std::int64_t tree_size = int_member(r, "tree_size", "the receipt");
    const Value &proof = *r.get("inclusion_proof");
    if (proof.kind != Value::Array || proof.items.size() > static_cast<std::size_t>(merkle::kMaxLevels))
        bad_input("the receipt's inclusion_proof is not an array of hashes");
    std::vector<std::uint8_t> path(kHashLen * (proof.items.size() + 1));
    for (std::size_t i = 0; i < proof.items.size(); i++)
        hex_hash(proof.items[i], "inclusion_proof element", &path[kHashLen * i]);

    AuditRecord rec;
    std::uint8_t prev[kHashLen], computed[kHashLen];
    read_row(row, "row", &rec, prev, h, computed);
    if (std::memcmp(computed, row_hash, kHashLen) != 0)
        failed(rec.seq, "the row's fields do not hash to the receipt's row_hash (the row or the hash was altered)");
    if (attempt_v.kind != Value::Null && !is_attempt_row(rec, attempt))
        failed(rec.seq, format("the receipt names attempt %" PRId64 ", but its row is not that attempt's "
                               "LAB_VERIFY_ATTEMPT row (action %s, target_type %s, target_id %s)",
                               attempt, quoted(rec.action).c_str(), quoted(rec.target_type).c_str(),
                               quoted(rec.target_id).c_str()));
    // receipt() always names the attempt whose row it holds: a receipt of an attempt's row with
    // attempt_id null was altered (or made by something else), and would let a page show the
    // row's proof without the attempt the student was given it for.  Null stays "no attempt
    // claimed" for a row that is no attempt's.
    std::int64_t row_attempt = 0;
    if (attempt_v.kind == Value::Null && attempt_of_row(rec, &row_attempt))
        failed(rec.seq, format("the receipt's row is attempt %" PRId64 "'s LAB_VERIFY_ATTEMPT row, but its attempt_id "
                               "is null (receipt() always names the attempt)",
                               row_attempt));
    if (tree_size != note.body.size)
        failed(rec.seq, format("the receipt's tree_size %" PRId64 " is not the checkpoint's %" PRId64, tree_size,
                               note.body.size));
    check_inclusion(h, rec, row_hash, leaf_index, note, path.data(), proof.items.size());
    ReceiptVerdict v = ok_verdict(rec, attempt_v.kind != Value::Null, attempt, leaf_index, tree_size, signature);
    v.note = note_v.text;
    return v;
}

// One line of a tlog-proof: from *at to the next newline (which must be there), *at moved past it.
bool next_line(const char *text, std::size_t len, std::size_t *at, std::string *line)
{
    const void *nl = std::memchr(text + *at, '\n', len - *at);
    if (nl == nullptr)
        return false;
    std::size_t end = static_cast<const char *>(nl) - text;
    line->assign(text + *at, end - *at);
    *at = end + 1;
    return true;
}

ReceiptVerdict check_tlog(const char *text, std::size_t len, const NotePolicy &policy, Hasher &h)
{
    std::size_t at = 0;
    std::string line;
    if (std::memchr(text, '\r', len) != nullptr)
        bad_input("the tlog-proof has a carriage return: its lines end with a newline (U+000A) alone");
    if (!next_line(text, len, &at, &line) || line != kTlogProofHeader)
        bad_input(format("not a tlog-proof: the first line must be \"%s\"", kTlogProofHeader));
    if (!next_line(text, len, &at, &line) || line.compare(0, 6, "extra ") != 0)
        bad_input("the tlog-proof has no \"extra\" line: this log's proofs carry the audit row there (the entry is its "
                  "row_hash, which is computed from the row), so there is nothing to check without it");
    std::string extra_b64 = line.substr(6);
    std::vector<std::uint8_t> extra(extra_b64.size() / 4 * 3 + 3);
    long extra_len = base64_decode(extra_b64.data(), extra_b64.size(), extra.data(), extra.size());
    if (extra_len <= 0)
        bad_input("the tlog-proof's extra is not standard base64 (RFC 4648, padded) of the row's JSON");

    if (!next_line(text, len, &at, &line) || line.compare(0, 6, "index ") != 0)
        bad_input("the tlog-proof has no \"index\" line after its extra line");
    std::int64_t leaf_index;
    std::string index_text = line.substr(6);
    if (!json::plain_int64_text(index_text, &leaf_index) || leaf_index < 0 || index_text[0] == '-')
        bad_input(format("the tlog-proof's index \"%.40s\" is not a decimal without leading zeroes", index_text.c_str()));

    std::vector<std::uint8_t> path;
    std::size_t n = 0;
    for (;;) {
        if (!next_line(text, len, &at, &line))
            bad_input("the tlog-proof has no empty line between its inclusion proof and the checkpoint");
        if (line.empty())
            break;
        if (n == static_cast<std::size_t>(merkle::kMaxLevels - 1))
            bad_input("the tlog-proof's inclusion proof has more hashes than any tree of int64 size needs");
        path.resize(kHashLen * (n + 1));
        std::uint8_t buf[kHashLen + 3];
        if (base64_decode(line.data(), line.size(), buf, sizeof buf) != static_cast<long>(kHashLen))
            bad_input(format("line %zu of the tlog-proof's inclusion proof is not the base64 of a 32-byte hash", n + 1));
        std::memcpy(&path[kHashLen * n], buf, kHashLen);
        n++;
    }
    ParsedCheckpoint note;
    NoteVerdict signature = check_note(text + at, len - at, "tlog-proof's checkpoint", policy, &note);

    Value row;
    json::Error err;
    if (!json::parse(reinterpret_cast<const char *>(extra.data()), static_cast<std::size_t>(extra_len), &row, &err))
        bad_input(format("the tlog-proof's extra is not the row's JSON (offset %zu: %s)", err.offset, err.what));
    AuditRecord rec;
    std::uint8_t prev[kHashLen], row_hash[kHashLen];
    read_row(row, "the tlog-proof's extra", &rec, prev, h, row_hash);
    if (leaf_index >= note.body.size)
        failed(rec.seq, format("the tlog-proof's index %" PRId64 " is not a leaf of the checkpoint of %" PRId64 " leaves",
                               leaf_index, note.body.size));
    check_inclusion(h, rec, row_hash, leaf_index, note, path.data(), n);
    std::int64_t attempt = 0;
    bool has_attempt = attempt_of_row(rec, &attempt);
    ReceiptVerdict v = ok_verdict(rec, has_attempt, attempt, leaf_index, note.body.size, signature);
    v.note.assign(text + at, len - at);
    return v;
}

}  // namespace

ReceiptVerdict check_receipt(const char *text, std::size_t len, const NotePolicy &policy, Hasher &hasher)
{
    try {
        if (is_tlog_proof(text, len))
            return check_tlog(text, len, policy, hasher);
        return check_json(text, len, policy, hasher);
    } catch (const Stop &s) {
        return s.verdict;
    }
}

bool is_tlog_proof(const char *text, std::size_t len)
{
    // "c2sp.org/tlog-proof@" and any version: a later version is then refused as not v1, not as JSON.
    static const char prefix[] = "c2sp.org/tlog-proof@";
    return len >= sizeof prefix - 1 && std::memcmp(text, prefix, sizeof prefix - 1) == 0;
}

}  // namespace forgea::core
