// The offline check of a receipt (receipt_check.hpp).
#include "receipt_check.hpp"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

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

ReceiptVerdict check(const char *text, std::size_t len, const NotePolicy &policy, Hasher &h)
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
    if (const char *why = parse_checkpoint(note_v.text.data(), note_v.text.size(), &note))
        bad_input(format("invalid checkpoint (receipt's checkpoint): %s", why));
    if (!note.body.tree)
        bad_input("the receipt's checkpoint is a 0.1.0 chain-heads checkpoint, not a transparency-log note: it has no "
                  "tree to prove against");
    NoteVerdict signature = check_note_signature(note, policy);
    if (signature.outcome == Outcome::kBadInput)
        bad_input(signature.text);
    if (signature.outcome == Outcome::kFailed) {
        Stop s;
        s.verdict.outcome = Outcome::kFailed;
        s.verdict.text = signature.text;
        throw s;  // first_bad_seq NULL: the note is refused before the row is looked at
    }

    std::uint8_t prev[kHashLen], row_hash[kHashLen];
    hex_hash(*row.get("prev_hash"), "row's prev_hash", prev);
    AuditRecord rec;
    rec.seq = int_member(row, "seq", "row");
    rec.chain_id = text_member(row, "chain_id");
    rec.chain_pos = int_member(row, "chain_pos", "row");
    rec.prev_hash = prev;
    rec.created_at_unix_us = int_member(row, "created_at_us", "row");
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
        rec.parent_seq.value = int_member(row, "parent_seq", "row");
    std::int64_t hash_version = int_member(row, "hash_version", "row");
    const Value &attempt_v = *r.get("attempt_id");
    std::int64_t attempt = 0;
    if (attempt_v.kind != Value::Null && !json::plain_int64(attempt_v, &attempt))
        bad_input("the receipt's \"attempt_id\" is neither an integer (a plain one: no fraction, no exponent) nor null");
    hex_hash(*r.get("row_hash"), "row_hash", row_hash);
    std::int64_t leaf_index = int_member(r, "leaf_index", "the receipt");
    std::int64_t tree_size = int_member(r, "tree_size", "the receipt");
    const Value &proof = *r.get("inclusion_proof");
    if (proof.kind != Value::Array || proof.items.size() > static_cast<std::size_t>(merkle::kMaxLevels))
        bad_input("the receipt's inclusion_proof is not an array of hashes");
    std::vector<std::uint8_t> path(kHashLen * (proof.items.size() + 1));
    for (std::size_t i = 0; i < proof.items.size(); i++)
        hex_hash(proof.items[i], "inclusion_proof element", &path[kHashLen * i]);

    if (hash_version != 1)
        failed(rec.seq, "the row's hash_version is not 1, the only encoding this tool knows");
    std::uint8_t computed[kHashLen];
    hash_record_v1(rec, h, computed);
    if (std::memcmp(computed, row_hash, kHashLen) != 0)
        failed(rec.seq, "the row's fields do not hash to the receipt's row_hash (the row or the hash was altered)");
    if (attempt_v.kind != Value::Null && !(same(rec.action, "LAB_VERIFY_ATTEMPT") && same(rec.target_type, "lab_attempt") &&
                                           same(rec.target_id, std::to_string(attempt).c_str())))
        failed(rec.seq, format("the receipt names attempt %" PRId64 ", but its row is not that attempt's "
                               "LAB_VERIFY_ATTEMPT row (action %s, target_type %s, target_id %s)",
                               attempt, quoted(rec.action).c_str(), quoted(rec.target_type).c_str(),
                               quoted(rec.target_id).c_str()));
    if (tree_size != note.body.size)
        failed(rec.seq, format("the receipt's tree_size %" PRId64 " is not the checkpoint's %" PRId64, tree_size,
                               note.body.size));
    std::uint8_t leaf[kHashLen];
    merkle::leaf_hash(h, row_hash, kHashLen, leaf);
    if (!merkle::verify_inclusion(h, leaf_index, tree_size, leaf,
                                  reinterpret_cast<const std::uint8_t(*)[kHashLen]>(path.data()),
                                  static_cast<int>(proof.items.size()), note.body.root))
        failed(rec.seq, format("the inclusion proof of leaf %" PRId64 " does not lead to the checkpoint's root", leaf_index));

    ReceiptVerdict ok;
    ok.outcome = Outcome::kOk;
    ok.has_seq = true;
    ok.seq = rec.seq;
    std::string claim = attempt_v.kind == Value::Null ? "" : format(" of attempt %" PRId64, attempt);
    ok.text = format("audit row %" PRId64 " (%.*s)%s is leaf %" PRId64 " of the checkpoint of %" PRId64 " leaves, %s",
                     rec.seq, static_cast<int>(rec.action.len < 100 ? rec.action.len : 100),
                     rec.action.is_null() ? "" : rec.action.data, claim.c_str(), leaf_index, tree_size,
                     signature.text.c_str());
    return ok;
}

}  // namespace

ReceiptVerdict check_receipt(const char *text, std::size_t len, const NotePolicy &policy, Hasher &hasher)
{
    try {
        return check(text, len, policy, hasher);
    } catch (const Stop &s) {
        return s.verdict;
    }
}

}  // namespace forgea::core
