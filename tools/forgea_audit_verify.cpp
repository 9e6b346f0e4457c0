// forgea_audit_verify: checks an export of the audit log (tools/export_audit.sh) without trusting the
// server that wrote it.  It runs exactly the checks forgea_audit.verify_chain() runs (docs/chain.md,
// section 4; docs/checkpoints.md), with the same code: src/core's ChainWalker, FirstProblem,
// checkpoint parser, root and Ed25519 verification, here over CSV files and with OpenSSL's SHA-256.
//
//   forgea_audit_verify --dir OUTDIR [--checkpoint FILE] [--public-key PUB.pem] [--key-name NAME]
//
// OUTDIR holds audit_log.csv and chain_head.csv (and, for --checkpoint, checkpoint.txt and
// checkpoint_heads.csv), as COPY ... CSV HEADER writes them.  Prints one line, the verdict
// verify_chain() would give over the same rows:
//   ok: verified N rows in M chains[; the signed|unsigned checkpoint of N rows at seq S holds]
//   FAIL first_bad_seq=S: <detail>        (S is NULL when the checkpoint itself is refused)
// Exit status: 0 ok, 1 the verification failed, 2 bad usage or unreadable input.
//
// Builds from src/core and OpenSSL only (make verifier); no PostgreSQL.
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base64.hpp"
#include "core/chain_record.hpp"
#include "core/chain_verifier.hpp"
#include "core/checkpoint_note.hpp"
#include "core/ed25519.hpp"
#include "core/hex.hpp"
#include "core/hasher.hpp"
#include "core/merkle_tree.hpp"
#include "core/push_rules.hpp"

namespace core = forgea::core;
using core::Bytes;
using core::HeadRecord;
using core::kHashLen;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;

// How the tool stops with an exit status.  Built into a fuzz harness (FA_VERIFY_FUZZ,
// test/fuzz/fuzz_receipt.cpp), it throws VerifyStop instead of exiting and prints nothing, so that
// the harness can feed the receipt reader one input after another in one process.
struct VerifyStop {
    int code;
};

[[noreturn]] void stop(int code)
{
#ifdef FA_VERIFY_FUZZ
    throw VerifyStop{code};
#else
    std::exit(code);
#endif
}

[[noreturn]] void die(const char *fmt, ...)
{
#ifndef FA_VERIFY_FUZZ
    std::va_list ap;
    va_start(ap, fmt);
    std::fputs("forgea_audit_verify: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
#else
    (void)fmt;
#endif
    stop(kExitBadInput);
}

// ---- SHA-256 through OpenSSL ----------------------------------------------------------------

class OpensslSha256 final : public core::Hasher {
public:
    OpensslSha256() : ctx_(EVP_MD_CTX_new())
    {
        if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
            die("OpenSSL: could not set up SHA-256");
    }
    ~OpensslSha256() { EVP_MD_CTX_free(ctx_); }
    OpensslSha256(const OpensslSha256 &) = delete;
    OpensslSha256 &operator=(const OpensslSha256 &) = delete;

    void put(const void *data, std::size_t len) override
    {
        if (len > 0 && EVP_DigestUpdate(ctx_, data, len) != 1)
            die("OpenSSL: SHA-256 update failed");
    }

    void finish(std::uint8_t out[kHashLen]) override
    {
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(ctx_, out, &n) != 1 || n != kHashLen ||
            EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
            die("OpenSSL: SHA-256 finish failed");
    }

private:
    EVP_MD_CTX *ctx_;
};

// ---- CSV as COPY ... CSV writes it (RFC 4180) ------------------------------------------------
//
// Fields are separated by ',' and records end with '\n' (or "\r\n") outside quotes.  A quoted
// field may hold ',', '"' (doubled), CR and LF; bytes are kept as they are (UTF-8 passes through).
// COPY writes SQL NULL as an unquoted empty field and an empty string as "": the two differ here.

struct Field {
    std::string value;
    bool null = false;
};

class CsvReader {
public:
    CsvReader(std::string path) : path_(std::move(path))
    {
        f_ = std::fopen(path_.c_str(), "rb");
        if (f_ == nullptr)
            die("cannot read %s: %s", path_.c_str(), std::strerror(errno));
    }
    ~CsvReader()
    {
        if (f_ != nullptr)
            std::fclose(f_);
    }
    CsvReader(const CsvReader &) = delete;
    CsvReader &operator=(const CsvReader &) = delete;

    const std::string &path() const { return path_; }
    long record_line() const { return record_line_; }

    // Reads the next record into fields; false at the end of the file.
    bool next(std::vector<Field> &fields)
    {
        fields.clear();
        int c = get();
        if (c == EOF)
            return false;
        record_line_ = line_;
        for (;;) {
            Field f;
            if (c == '"') {
                for (;;) {
                    c = get();
                    if (c == EOF)
                        die("%s line %ld: a quoted field is not closed", path_.c_str(), record_line_);
                    if (c == '"') {
                        c = get();
                        if (c != '"')
                            break;  // the closing quote; c is what follows it
                    }
                    f.value.push_back(static_cast<char>(c));
                }
            } else {
                while (c != ',' && c != '\n' && c != '\r' && c != EOF) {
                    if (c == '"')
                        die("%s line %ld: a quote inside an unquoted field", path_.c_str(), line_);
                    f.value.push_back(static_cast<char>(c));
                    c = get();
                }
                f.null = f.value.empty();
            }
            fields.push_back(std::move(f));
            if (c == ',') {
                c = get();
                continue;
            }
            if (c == '\r') {
                c = get();
                if (c != '\n')
                    die("%s line %ld: a carriage return outside quotes", path_.c_str(), line_);
            }
            if (c == '\n' || c == EOF)
                return true;
            die("%s line %ld: unexpected character after a closing quote", path_.c_str(), line_);
        }
    }

    // Reads the header and checks it names exactly these columns.
    void expect_header(const std::vector<const char *> &names)
    {
        std::vector<Field> fields;
        if (!next(fields))
            die("%s is empty (no header line): not a CSV HEADER export", path_.c_str());
        bool same = fields.size() == names.size();
        for (std::size_t i = 0; same && i < names.size(); i++)
            same = !fields[i].null && fields[i].value == names[i];
        if (!same) {
            std::string want;
            for (const char *n : names)
                want += (want.empty() ? "" : ",") + std::string(n);
            die("%s: the header is not \"%s\": not a file tools/export_audit.sh wrote", path_.c_str(), want.c_str());
        }
    }

private:
    int get()
    {
        int c = getc_unlocked(f_);  // one reader per file: no locking per byte
        if (c == '\n')
            line_++;
        if (c == EOF && std::ferror(f_))
            die("error reading %s: %s", path_.c_str(), std::strerror(errno));
        return c;
    }

    std::string path_;
    std::FILE *f_ = nullptr;
    long line_ = 1;
    long record_line_ = 0;
};

// ---- field conversions -----------------------------------------------------------------------

Bytes bytes_of(const Field &f)
{
    return f.null ? Bytes{} : Bytes{f.value.data(), f.value.size()};
}

bool to_int64(const Field &f, std::int64_t *out)
{
    return !f.null && core::parse_int64(f.value.data(), f.value.size(), out);
}

// Decodes hex text; false if it is not an even number of hex digits.
bool from_hex(const Field &f, std::vector<std::uint8_t> *out)
{
    out->clear();
    if (f.null || f.value.size() % 2 != 0)
        return false;
    for (std::size_t i = 0; i < f.value.size(); i += 2) {
        int hi = core::hex_digit_value(f.value[i]), lo = core::hex_digit_value(f.value[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out->push_back(static_cast<std::uint8_t>(hi << 4 | lo));
    }
    return true;
}

std::string to_hex(const std::uint8_t *data, std::size_t len)
{
    std::string s(2 * len + 1, '\0');
    core::write_hex(data, len, &s[0]);
    s.pop_back();  // write_hex's NUL
    return s;
}

std::string read_file(const std::string &path, bool *exists)
{
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        if (exists != nullptr && errno == ENOENT) {
            *exists = false;
            return {};
        }
        die("cannot read %s: %s", path.c_str(), std::strerror(errno));
    }
    std::string s;
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
        s.append(buf, n);
    bool bad = std::ferror(f);
    std::fclose(f);
    if (bad)
        die("error reading %s", path.c_str());
    if (exists != nullptr)
        *exists = true;
    return s;
}

bool file_exists(const std::string &path)
{
    std::FILE *f = std::fopen(path.c_str(), "rb");
    if (f == nullptr)
        return false;
    std::fclose(f);
    return true;
}

// ---- heads -----------------------------------------------------------------------------------

// Heads with the chain id bytes they own; records point into ids (never resized after linking).
struct HeadList {
    std::vector<std::string> ids;
    std::vector<HeadRecord> recs;
    std::vector<bool> seen;

    void link()
    {
        for (std::size_t i = 0; i < recs.size(); i++)
            recs[i].chain_id = Bytes{ids[i].data(), ids[i].size()};
        seen.assign(recs.size(), false);
    }

    // Binary search by chain id (recs sorted by compare_chain_ids); -1 if absent.
    long find(Bytes id) const
    {
        long lo = 0, hi = static_cast<long>(recs.size()) - 1;
        while (lo <= hi) {
            long mid = lo + (hi - lo) / 2;
            int c = core::compare_chain_ids(recs[mid].chain_id, id);
            if (c == 0)
                return mid;
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid - 1;
        }
        return -1;
    }
};

// chain_head.csv: chain_id, length, last_seq, last_hash (hex), for every head with length > 0.
HeadList load_chain_heads(const std::string &path)
{
    CsvReader csv(path);
    csv.expect_header({"chain_id", "length", "last_seq", "last_hash"});
    struct Loaded {
        std::string id;
        HeadRecord rec;
    };
    std::vector<Loaded> loaded;
    std::vector<Field> f;
    std::vector<std::uint8_t> hash;
    while (csv.next(f)) {
        if (f.size() != 4)
            die("%s line %ld: %zu fields, expected 4", path.c_str(), csv.record_line(), f.size());
        Loaded h;
        if (f[0].null)
            die("%s line %ld: chain_id is NULL", path.c_str(), csv.record_line());
        h.id = f[0].value;
        if (!to_int64(f[1], &h.rec.length))
            die("%s line %ld: length is not an integer", path.c_str(), csv.record_line());
        // verify_chain() reads a NULL last_seq as 0.
        if (!f[2].null && !to_int64(f[2], &h.rec.last_seq))
            die("%s line %ld: last_seq is not an integer", path.c_str(), csv.record_line());
        if (!from_hex(f[3], &hash))
            die("%s line %ld: last_hash is not hex", path.c_str(), csv.record_line());
        // As verify_chain() does: up to 32 bytes of what is stored, zeros after.
        std::memcpy(h.rec.last_hash, hash.data(), std::min(hash.size(), kHashLen));
        if (h.rec.length > 0)
            loaded.push_back(std::move(h));
    }
    // The export orders them already; sort anyway, so lookups hold for any order of the file.
    std::stable_sort(loaded.begin(), loaded.end(), [](const Loaded &a, const Loaded &b) {
        return core::compare_chain_ids(Bytes{a.id.data(), a.id.size()}, Bytes{b.id.data(), b.id.size()}) < 0;
    });
    HeadList list;
    for (std::size_t i = 0; i < loaded.size(); i++) {
        if (i > 0 && loaded[i].id == loaded[i - 1].id)
            die("%s: chain \"%s\" has two heads", path.c_str(), loaded[i].id.c_str());
        list.ids.push_back(std::move(loaded[i].id));
        list.recs.push_back(loaded[i].rec);
    }
    list.link();
    return list;
}

// checkpoint_heads.csv: the heads the CHECKPOINT event stored, in its order.  Returns false if
// one is malformed (a NULL, a non-integer, a hash that is not 64 hex digits): the export writes
// NULLs for an element of proof->'heads' that is not [text, number, number, text].
bool load_sealed_heads(const std::string &path, HeadList *list)
{
    CsvReader csv(path);
    csv.expect_header({"chain_id", "length", "last_seq", "last_hash"});
    std::vector<Field> f;
    std::vector<std::uint8_t> hash;
    bool well_formed = true;
    while (csv.next(f)) {
        if (f.size() != 4)
            die("%s line %ld: %zu fields, expected 4", path.c_str(), csv.record_line(), f.size());
        HeadRecord h;
        if (f[0].null || !to_int64(f[1], &h.length) || !to_int64(f[2], &h.last_seq) || !from_hex(f[3], &hash) ||
            hash.size() != kHashLen) {
            well_formed = false;
            continue;
        }
        std::memcpy(h.last_hash, hash.data(), kHashLen);
        list->ids.push_back(f[0].value);
        list->recs.push_back(h);
    }
    list->link();
    return well_formed;
}

// ---- the verdict -----------------------------------------------------------------------------

[[noreturn]] void verdict_fail(const char *first_bad_seq, const std::string &detail)
{
#ifndef FA_VERIFY_FUZZ
    std::printf("FAIL first_bad_seq=%s: %s\n", first_bad_seq, detail.c_str());
    std::fflush(stdout);
#else
    (void)first_bad_seq;
    (void)detail;
#endif
    stop(kExitFailed);
}

std::string format(const char *fmt, ...)
{
    char buf[2048];
    std::va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

struct Options {
    std::string dir;
    std::string checkpoint;
    std::string public_key;
    std::string key_name = "forgea_audit";
    bool has_checkpoint = false;
    bool has_public_key = false;
    std::string receipt;          // --receipt FILE: a forgea_audit.receipt() document
    std::string consistency;      // --consistency FILE: hex hashes, one per line
    std::string old_note, new_note;
};

void usage(std::FILE *out)
{
    std::fputs("usage: forgea_audit_verify --dir OUTDIR [--checkpoint FILE] [--public-key PUB.pem] [--key-name NAME]\n"
               "       forgea_audit_verify --receipt RECEIPT.json [--public-key PUB.pem] [--key-name NAME]\n"
               "       forgea_audit_verify --consistency PROOF.txt --old NOTE --new NOTE [--public-key PUB.pem]\n"
               "\n"
               "--receipt: a receipt from forgea_audit.receipt(attempt_id): the row's fields must hash to its\n"
               "row_hash, whose leaf the RFC 6962 inclusion proof must lead to the note's root; the note must be\n"
               "signed by the public key (docs/transparency.md).  --consistency: the RFC 6962 consistency proof\n"
               "(hex hashes, one per line, from forgea_audit.consistency_proof(old, new)) must show that the\n"
               "tree of the --old note is a prefix of the tree of the --new note; both notes must be signed.\n"
               "\n"
               "Verifies an export of forgea_audit's log (tools/export_audit.sh DBNAME OUTDIR [CHECKPOINT_FILE])\n"
               "with the checks of forgea_audit.verify_chain([checkpoint]), without the database.\n"
               "  --dir OUTDIR         the export: audit_log.csv, chain_head.csv (and checkpoint.txt,\n"
               "                       checkpoint_heads.csv when exported with a checkpoint)\n"
               "  --checkpoint FILE    a checkpoint note kept outside the database: every row it sealed\n"
               "                       must still be in the export, unchanged\n"
               "  --public-key PUB.pem the Ed25519 public key the checkpoint must be signed with\n"
               "                       (required for a signed note)\n"
               "  --key-name NAME      the signer's key name in the note (default forgea_audit)\n"
               "Prints \"ok: ...\" and exits 0, or \"FAIL first_bad_seq=S: ...\" and exits 1;\n"
               "exits 2 on bad usage or unreadable input.\n",
               out);
}

Options parse_args(int argc, char **argv)
{
    Options o;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-h" || a == "--help") {
            usage(stdout);
            std::exit(kExitOk);
        }
        std::string value;
        std::size_t eq = a.find('=');
        std::string name = a.substr(0, eq);
        if (name != "--dir" && name != "--checkpoint" && name != "--public-key" && name != "--key-name" &&
            name != "--receipt" && name != "--consistency" && name != "--old" && name != "--new") {
            usage(stderr);
            die("unknown argument \"%s\"", a.c_str());
        }
        if (eq != std::string::npos) {
            value = a.substr(eq + 1);
        } else {
            if (i + 1 >= argc)
                die("%s needs a value", name.c_str());
            value = argv[++i];
        }
        if (name == "--dir") {
            o.dir = value;
        } else if (name == "--checkpoint") {
            o.checkpoint = value;
            o.has_checkpoint = true;
        } else if (name == "--receipt") {
            o.receipt = value;
        } else if (name == "--consistency") {
            o.consistency = value;
        } else if (name == "--old") {
            o.old_note = value;
        } else if (name == "--new") {
            o.new_note = value;
        } else if (name == "--public-key") {
            o.public_key = value;
            o.has_public_key = true;
        } else {
            o.key_name = value;
        }
    }
    if (!o.receipt.empty() || !o.consistency.empty()) {
        if (!o.dir.empty() || o.has_checkpoint || (!o.receipt.empty() && !o.consistency.empty()))
            die("--receipt and --consistency are modes of their own: give one, without --dir or --checkpoint");
        if (!o.consistency.empty() && (o.old_note.empty() || o.new_note.empty()))
            die("--consistency needs --old NOTE and --new NOTE");
        if (o.key_name.empty())
            die("--key-name must not be empty");
        return o;
    }
    if (o.dir.empty()) {
        usage(stderr);
        die("--dir is required");
    }
    if (o.has_public_key && !o.has_checkpoint)
        die("--public-key checks a checkpoint's signature: give --checkpoint too");
    if (o.key_name.empty())
        die("--key-name must not be empty");
    return o;
}

// The checkpoint, its signature and its sealed heads, checked in verify_chain()'s order.  Fails
// (exit 1, first_bad_seq NULL) where verify_chain() returns before reading any row.
struct Checkpoint {
    std::string text;
    core::ParsedCheckpoint parsed;
    bool is_signed = false;
    HeadList sealed;
};

void check_signature(const Options &o, Checkpoint &cp)
{
    cp.is_signed = cp.parsed.signature_count > 0;
    if (!o.has_public_key) {
        if (cp.is_signed)
            die("the checkpoint is signed: give the signer's public key with --public-key PUB.pem "
                "(openssl pkey -in KEY.pem -pubout)");
        return;
    }
    core::Ed25519Key key;
    char err[512];
    if (!core::load_ed25519_pem(o.public_key.c_str(), &key, err, sizeof err))
        die("cannot use --public-key: %s", err);
    if (!cp.is_signed)
        verdict_fail("NULL", "the checkpoint is not signed, but a public key was given to check it");
    Bytes name{o.key_name.data(), o.key_name.size()};
    OpensslSha256 h;
    std::uint32_t id = core::note_key_id(name, key.public_key, h);
    for (int i = 0; i < cp.parsed.signature_count; i++) {
        const core::ParsedSignature &s = cp.parsed.signatures[i];
        if (s.key_id != id || s.key_name.len != name.len || std::memcmp(s.key_name.data, name.data, name.len) != 0)
            continue;
        if (core::ed25519_verify(key.public_key, cp.parsed.text_signed.data, cp.parsed.text_signed.len, s.signature))
            return;
        verdict_fail("NULL", format("the checkpoint's signature by key \"%s\" does not verify (the note was altered)",
                                    o.key_name.c_str()));
    }
    verdict_fail("NULL", format("the checkpoint is not signed by the given public key \"%s\" (key id %08x)",
                                o.key_name.c_str(), id));
}

void load_checkpoint_heads(const Options &o, Checkpoint &cp)
{
    std::string root_hex = to_hex(cp.parsed.body.root, kHashLen);
    // The export names the checkpoint its heads belong to: checkpoint.txt.
    bool exported_with_checkpoint;
    std::string exported = read_file(o.dir + "/checkpoint.txt", &exported_with_checkpoint);
    if (!exported_with_checkpoint)
        die("%s/checkpoint.txt is missing: export with the checkpoint (tools/export_audit.sh DBNAME OUTDIR "
            "CHECKPOINT_FILE) to check against it", o.dir.c_str());
    core::ParsedCheckpoint other;
    if (const char *why = core::parse_checkpoint(exported.data(), exported.size(), &other))
        die("%s/checkpoint.txt is not a checkpoint: %s", o.dir.c_str(), why);
    if (std::memcmp(other.body.root, cp.parsed.body.root, kHashLen) != 0)
        die("the export was made with another checkpoint (root %s, not %s): export again with this one",
            to_hex(other.body.root, kHashLen).c_str(), root_hex.c_str());
    // export_audit.sh writes no checkpoint_heads.csv when the log holds no such event.
    std::string heads_path = o.dir + "/checkpoint_heads.csv";
    if (!file_exists(heads_path))
        verdict_fail("NULL", format("the log holds no CHECKPOINT event with root %s (it was removed, or the checkpoint "
                                    "is not from this database)", root_hex.c_str()));
    bool well_formed = load_sealed_heads(heads_path, &cp.sealed);
    // Sorted by chain id as given (the root is over that order), hashing to the root, adding up
    // to the note's lines: core::check_sealed_heads, as verify_chain() checks them.
    const char *mismatch = nullptr;
    if (well_formed) {
        OpensslSha256 h;
        mismatch = core::check_sealed_heads(cp.parsed.body, cp.sealed.recs.data(), cp.sealed.recs.size(), h);
    }
    if (!well_formed || mismatch != nullptr)
        verdict_fail("NULL", format("CHECKPOINT event %s does not match the checkpoint: %s (the event or the note was "
                                    "altered)", root_hex.c_str(), well_formed ? mismatch : "its heads are malformed"));
}

// ---- the walk --------------------------------------------------------------------------------

const std::vector<const char *> kAuditColumns = {
    "seq", "chain_id", "chain_pos", "prev_hash", "row_hash", "hash_version", "created_at", "tenant_id", "user_id",
    "actor_type", "actor_id", "action", "target_type", "target_id", "outcome", "severity", "metadata", "proof",
    "correlation_id", "parent_seq"};

enum Col {
    kSeq, kChainId, kChainPos, kPrevHash, kRowHash, kHashVersion, kCreatedAt, kTenantId, kUserId, kActorType,
    kActorId, kAction, kTargetType, kTargetId, kOutcome, kSeverity, kMetadata, kProof, kCorrelationId, kParentSeq,
    kColumns
};

struct Pass {
    core::ChainWalker walker;
    core::FirstProblem problems;
    HeadList heads;
    HeadList *sealed = nullptr;  // null without a checkpoint
    std::string chain_id;        // the current chain's id, owned here
    std::int64_t last_pos = 0;
    // With a transparency-log checkpoint: every row's stored row_hash by seq, for the tree check.
    bool keep_row_hashes = false;
    std::unordered_map<std::int64_t, std::string> row_hashes;
};

void end_chain(Pass &p)
{
    if (!p.walker.in_chain())
        return;
    Bytes id{p.chain_id.data(), p.chain_id.size()};
    long h = p.heads.find(id);
    if (h >= 0)
        p.heads.seen[h] = true;
    if (p.sealed != nullptr) {
        long s = p.sealed->find(id);
        if (s >= 0)
            p.sealed->seen[s] = true;
    }
    p.walker.end_chain(h >= 0 ? &p.heads.recs[h] : nullptr, p.problems);
}

void walk(const std::string &path, Pass &p)
{
    CsvReader csv(path);
    csv.expect_header(kAuditColumns);
    std::vector<Field> f;
    std::vector<std::uint8_t> prev, stored;
    OpensslSha256 hasher;
    while (csv.next(f)) {
        long line = csv.record_line();
        if (f.size() != kColumns)
            die("%s line %ld: %zu fields, expected %d", path.c_str(), line, f.size(), static_cast<int>(kColumns));
        core::AuditRecord rec;
        std::int64_t version;
        if (!to_int64(f[kSeq], &rec.seq))
            die("%s line %ld: seq is not an integer", path.c_str(), line);
        if (f[kChainId].null)
            die("%s line %ld: chain_id is NULL", path.c_str(), line);
        rec.chain_id = bytes_of(f[kChainId]);
        if (!to_int64(f[kChainPos], &rec.chain_pos))
            die("%s line %ld: chain_pos is not an integer", path.c_str(), line);
        if (!to_int64(f[kHashVersion], &version) || version < INT16_MIN || version > INT16_MAX)
            die("%s line %ld: hash_version is not a smallint", path.c_str(), line);
        if (!to_int64(f[kCreatedAt], &rec.created_at_unix_us))
            die("%s line %ld: created_at is not an integer (Unix microseconds)", path.c_str(), line);
        if (!f[kParentSeq].null && !to_int64(f[kParentSeq], &rec.parent_seq.value))
            die("%s line %ld: parent_seq is not an integer", path.c_str(), line);
        rec.parent_seq.is_null = f[kParentSeq].null;
        // As verify_chain(): a prev_hash that is not 32 bytes links to nothing, a row_hash that is
        // not 32 bytes matches nothing; both are then reported by the walker.
        rec.prev_hash = from_hex(f[kPrevHash], &prev) && prev.size() == kHashLen ? prev.data() : nullptr;
        if (!from_hex(f[kRowHash], &stored))
            stored.clear();
        rec.tenant_id = bytes_of(f[kTenantId]);
        rec.user_id = bytes_of(f[kUserId]);
        rec.actor_type = bytes_of(f[kActorType]);
        rec.actor_id = bytes_of(f[kActorId]);
        rec.action = bytes_of(f[kAction]);
        rec.target_type = bytes_of(f[kTargetType]);
        rec.target_id = bytes_of(f[kTargetId]);
        rec.outcome = bytes_of(f[kOutcome]);
        rec.severity = bytes_of(f[kSeverity]);
        rec.metadata_json = bytes_of(f[kMetadata]);  // canonical JSON already: hashed verbatim
        rec.proof_json = bytes_of(f[kProof]);
        rec.correlation_id = bytes_of(f[kCorrelationId]);

        Bytes current{p.chain_id.data(), p.chain_id.size()};
        int order = p.walker.in_chain() ? core::compare_chain_ids(current, rec.chain_id) : -1;
        // verify_chain() reads ORDER BY chain_id COLLATE "C", chain_pos; the export is in that
        // order, and (chain_id, chain_pos) is unique.  Anything else was not written by the export.
        if (order > 0 || (order == 0 && rec.chain_pos <= p.last_pos))
            die("%s line %ld: the rows are not ordered by chain_id (bytewise), then chain_pos, without repeats: "
                "not an export as tools/export_audit.sh writes it", path.c_str(), line);
        if (order != 0) {
            end_chain(p);
            p.chain_id.assign(f[kChainId].value);
            Bytes id{p.chain_id.data(), p.chain_id.size()};
            long s = p.sealed != nullptr ? p.sealed->find(id) : -1;
            p.walker.start_chain(id, s >= 0 ? &p.sealed->recs[s] : nullptr);
        }
        p.last_pos = rec.chain_pos;
        if (p.keep_row_hashes)
            p.row_hashes[rec.seq] = std::string(stored.begin(), stored.end());
        rec.chain_id = Bytes{p.chain_id.data(), p.chain_id.size()};
        p.walker.check_row(rec, stored.empty() ? nullptr : stored.data(), stored.size(), static_cast<int>(version), hasher,
                           p.problems);
    }
    end_chain(p);
}

// verify_chain(checkpoint)'s check of a transparency-log note (docs/transparency.md), over the
// export: the first tree_size leaves of merkle_leaf.csv, in leaf order, must be rows of the export
// whose row_hash values hash (RFC 6962) to the note's root.  The messages are verify_chain()'s.
// Returns the failure (and *bad_seq, 0 if none) or "" when the root holds.
std::string check_tree(const Options &o, const Checkpoint &cp, const Pass &p, std::int64_t *bad_seq)
{
    *bad_seq = 0;
    std::string path = o.dir + "/merkle_leaf.csv";
    if (!file_exists(path))
        die("%s is missing: export with a version of tools/export_audit.sh that writes it", path.c_str());
    CsvReader csv(path);
    csv.expect_header({"leaf_index", "seq", "leaf_hash"});
    std::int64_t size = cp.parsed.body.size;
    core::merkle::Frontier *f = new core::merkle::Frontier();
    struct Drop final : core::merkle::NodeSink {
        void node(int, std::int64_t, const std::uint8_t *) override {}
    } drop;
    OpensslSha256 h;
    std::vector<Field> row;
    std::vector<std::uint8_t> node;
    std::string problem;
    while (f->size < size && csv.next(row)) {
        std::int64_t index, seq;
        if (row.size() != 3 || !to_int64(row[0], &index) || !to_int64(row[1], &seq))
            die("%s line %ld: not leaf_index,seq,leaf_hash", path.c_str(), csv.record_line());
        if (index != f->size) {
            problem = format("the Merkle tree has no leaf %" PRId64 " (merkle_leaf was altered)", f->size);
            *bad_seq = seq;
            break;
        }
        auto it = p.row_hashes.find(seq);
        if (it == p.row_hashes.end()) {
            problem = format("leaf %" PRId64 ": audit row %" PRId64 ", which the checkpoint covers, is missing", index, seq);
            *bad_seq = seq;
            break;
        }
        std::uint8_t lh[kHashLen];
        core::merkle::leaf_hash(h, it->second.data(), std::min(it->second.size(), kHashLen), lh);
        if (*bad_seq == 0 && (!from_hex(row[2], &node) || node.size() != kHashLen || std::memcmp(node.data(), lh, kHashLen) != 0))
            *bad_seq = seq;
        f->append(h, lh, drop);
    }
    if (problem.empty() && f->size < size)
        problem = format("the checkpoint covers %" PRId64 " leaves, the Merkle tree holds %" PRId64, size, f->size);
    if (problem.empty()) {
        std::uint8_t root[kHashLen];
        f->root(h, root);
        if (std::memcmp(root, cp.parsed.body.root, kHashLen) != 0)
            problem = *bad_seq != 0
                          ? format("the first %" PRId64 " leaves do not hash to the checkpoint's root: audit row %" PRId64
                                   " is not the row integrated as its leaf (changed after integration)", size, *bad_seq)
                          : format("the first %" PRId64 " leaves do not hash to the checkpoint's root (rows were changed, "
                                   "removed or reordered after the checkpoint)", size);
        else if (*bad_seq != 0)
            problem = format("merkle_tile's leaf hash of audit row %" PRId64 " was altered (the rows match the checkpoint; "
                             "proofs read from the damaged node would not verify)", *bad_seq);
    }
    delete f;
    return problem;
}

// ---- receipts and consistency proofs (docs/transparency.md) ----------------------------------

// A JSON value as forgea_audit.receipt() writes it (jsonb output): objects, arrays, strings,
// numbers (kept as text), true, false, null.  Small on purpose: receipts are a few kB.
struct Json {
    enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
    std::string text;  // String: the decoded UTF-8; Number: as written; Bool: "true"/"false"
    std::vector<Json> items;
    std::map<std::string, Json> fields;

    const Json *get(const char *key) const
    {
        auto it = fields.find(key);
        return it == fields.end() ? nullptr : &it->second;
    }
};

class JsonParser {
public:
    JsonParser(const std::string &s, const std::string &path) : s_(s), path_(path) {}

    Json parse_document()
    {
        Json v = value(0);
        skip_ws();
        if (i_ != s_.size())
            fail("text after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const char *what) { die("%s: not a receipt (offset %zu: %s)", path_.c_str(), i_, what); }

    void skip_ws()
    {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
            i_++;
    }

    bool eat(const char *word)
    {
        std::size_t n = std::strlen(word);
        if (s_.compare(i_, n, word) != 0)
            return false;
        i_ += n;
        return true;
    }

    void put_utf8(std::string &out, unsigned cp)
    {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    unsigned hex4()
    {
        if (i_ + 4 > s_.size())
            fail("a short \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            int d = core::hex_digit_value(s_[i_++]);
            if (d < 0)
                fail("a bad \\u escape");
            v = v * 16 + static_cast<unsigned>(d);
        }
        return v;
    }

    std::string string()
    {
        std::string out;
        i_++;  // the opening quote
        for (;;) {
            if (i_ >= s_.size())
                fail("an unterminated string");
            char c = s_[i_++];
            if (c == '"')
                return out;
            if (static_cast<unsigned char>(c) < 0x20)
                fail("a control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (i_ >= s_.size())
                fail("an unterminated escape");
            char e = s_[i_++];
            switch (e) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                unsigned cp = hex4();
                if (cp >= 0xD800 && cp < 0xDC00) {
                    if (!eat("\\u"))
                        fail("a lone surrogate");
                    unsigned lo = hex4();
                    if (lo < 0xDC00 || lo >= 0xE000)
                        fail("a bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    fail("a lone surrogate");
                }
                put_utf8(out, cp);
                break;
            }
            default:
                fail("an unknown escape");
            }
        }
    }

    Json value(int depth)
    {
        if (depth > 32)
            fail("nesting too deep");
        skip_ws();
        Json v;
        if (i_ >= s_.size())
            fail("a value is missing");
        char c = s_[i_];
        if (c == '{') {
            v.kind = Json::Object;
            i_++;
            skip_ws();
            if (i_ < s_.size() && s_[i_] == '}') {
                i_++;
                return v;
            }
            for (;;) {
                skip_ws();
                if (i_ >= s_.size() || s_[i_] != '"')
                    fail("an object key is not a string");
                std::string key = string();
                skip_ws();
                if (!eat(":"))
                    fail("':' missing");
                v.fields[key] = value(depth + 1);
                skip_ws();
                if (eat(","))
                    continue;
                if (eat("}"))
                    return v;
                fail("',' or '}' missing");
            }
        }
        if (c == '[') {
            v.kind = Json::Array;
            i_++;
            skip_ws();
            if (i_ < s_.size() && s_[i_] == ']') {
                i_++;
                return v;
            }
            for (;;) {
                v.items.push_back(value(depth + 1));
                skip_ws();
                if (eat(","))
                    continue;
                if (eat("]"))
                    return v;
                fail("',' or ']' missing");
            }
        }
        if (c == '"') {
            v.kind = Json::String;
            v.text = string();
            return v;
        }
        if (eat("null"))
            return v;
        if (eat("true") || eat("false")) {
            v.kind = Json::Bool;
            v.text = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u' ? "true" : "false";
            return v;
        }
        std::size_t start = i_;
        while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::strchr("+-.eE", s_[i_])))
            i_++;
        if (i_ == start)
            fail("not a JSON value");
        v.kind = Json::Number;
        v.text = s_.substr(start, i_ - start);
        return v;
    }

    const std::string &s_;
    std::string path_;
    std::size_t i_ = 0;
};

const Json &member(const Json &obj, const char *key, const char *where)
{
    const Json *v = obj.kind == Json::Object ? obj.get(key) : nullptr;
    if (v == nullptr)
        die("the receipt has no \"%s\" in %s", key, where);
    return *v;
}

std::int64_t int_member(const Json &obj, const char *key, const char *where)
{
    const Json &v = member(obj, key, where);
    Field f;
    f.value = v.text;
    std::int64_t out;
    if (v.kind != Json::Number || !to_int64(f, &out))
        die("the receipt's \"%s\" in %s is not an integer", key, where);
    return out;
}

// A nullable text field of the row: JSON null is SQL NULL, a string its bytes.
Bytes text_member(const Json &row, const char *key)
{
    const Json &v = member(row, key, "row");
    if (v.kind == Json::Null)
        return Bytes{};
    if (v.kind != Json::String)
        die("the receipt's row field \"%s\" is neither a string nor null", key);
    return Bytes{v.text.data(), v.text.size()};
}

std::vector<std::uint8_t> hex_member(const Json &v, const char *what)
{
    Field f;
    f.value = v.text;
    std::vector<std::uint8_t> out;
    if (v.kind != Json::String || !from_hex(f, &out) || out.size() != kHashLen)
        die("the receipt's %s is not 64 hex digits", what);
    return out;
}

// A note given to --receipt (inside it) or --consistency: a transparency-log note, signed by the
// given key when one is given (check_signature's rules: a signed note needs the key).
Checkpoint tree_note(const Options &o, const std::string &text, const char *what)
{
    Checkpoint cp;
    cp.text = text;
    if (const char *why = core::parse_checkpoint(cp.text.data(), cp.text.size(), &cp.parsed))
        die("invalid checkpoint (%s): %s", what, why);
    if (!cp.parsed.body.tree)
        die("the %s is a 0.1.0 chain-heads checkpoint, not a transparency-log note: it has no tree to prove against", what);
    Options with_checkpoint = o;
    with_checkpoint.has_checkpoint = true;
    check_signature(with_checkpoint, cp);
    return cp;
}

// The receipt given as text (named `name` in messages): row fields -> row_hash -> leaf ->
// inclusion proof -> the note's root -> signature.  Apart from reading the file, all of --receipt;
// a function of its own so that test/fuzz/fuzz_receipt.cpp feeds it inputs without main().
int verify_receipt_text(const Options &o, const std::string &text, const std::string &name)
{
    Json r = JsonParser(text, name).parse_document();
    const Json &row = member(r, "row", "the receipt");
    const Json &note = member(r, "checkpoint", "the receipt");
    if (note.kind != Json::String)
        die("the receipt's checkpoint is not a string");
    Checkpoint cp = tree_note(o, note.text, "receipt's checkpoint");

    std::vector<std::uint8_t> prev = hex_member(member(row, "prev_hash", "row"), "row's prev_hash");
    core::AuditRecord rec;
    rec.seq = int_member(row, "seq", "row");
    rec.chain_id = text_member(row, "chain_id");
    rec.chain_pos = int_member(row, "chain_pos", "row");
    rec.prev_hash = prev.data();
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
    const Json &parent = member(row, "parent_seq", "row");
    rec.parent_seq.is_null = parent.kind == Json::Null;
    if (!rec.parent_seq.is_null)
        rec.parent_seq.value = int_member(row, "parent_seq", "row");
    if (int_member(row, "hash_version", "row") != 1)
        verdict_fail(std::to_string(rec.seq).c_str(), "the row's hash_version is not 1, the only encoding this tool knows");

    OpensslSha256 h;
    std::uint8_t computed[kHashLen];
    core::hash_record_v1(rec, h, computed);
    std::vector<std::uint8_t> row_hash = hex_member(member(r, "row_hash", "the receipt"), "row_hash");
    if (std::memcmp(computed, row_hash.data(), kHashLen) != 0)
        verdict_fail(std::to_string(rec.seq).c_str(),
                     "the row's fields do not hash to the receipt's row_hash (the row or the hash was altered)");

    std::int64_t leaf_index = int_member(r, "leaf_index", "the receipt");
    std::int64_t tree_size = int_member(r, "tree_size", "the receipt");
    if (tree_size != cp.parsed.body.size)
        verdict_fail(std::to_string(rec.seq).c_str(),
                     format("the receipt's tree_size %" PRId64 " is not the checkpoint's %" PRId64, tree_size,
                            cp.parsed.body.size));
    const Json &proof = member(r, "inclusion_proof", "the receipt");
    if (proof.kind != Json::Array || proof.items.size() > static_cast<std::size_t>(core::merkle::kMaxLevels))
        die("the receipt's inclusion_proof is not an array of hashes");
    std::vector<std::uint8_t> path(kHashLen * (proof.items.size() + 1));
    for (std::size_t i = 0; i < proof.items.size(); i++) {
        std::vector<std::uint8_t> hsh = hex_member(proof.items[i], "inclusion_proof element");
        std::memcpy(&path[kHashLen * i], hsh.data(), kHashLen);
    }
    std::uint8_t leaf[kHashLen];
    core::merkle::leaf_hash(h, row_hash.data(), kHashLen, leaf);
    if (!core::merkle::verify_inclusion(h, leaf_index, tree_size, leaf,
                                        reinterpret_cast<const std::uint8_t(*)[kHashLen]>(path.data()),
                                        static_cast<int>(proof.items.size()), cp.parsed.body.root))
        verdict_fail(std::to_string(rec.seq).c_str(),
                     format("the inclusion proof of leaf %" PRId64 " does not lead to the checkpoint's root", leaf_index));
    std::printf("ok: audit row %" PRId64 " (%.*s) is leaf %" PRId64 " of the %s checkpoint of %" PRId64 " leaves\n", rec.seq,
                static_cast<int>(rec.action.len), rec.action.data, leaf_index, cp.is_signed ? "signed" : "unsigned",
                tree_size);
    return kExitOk;
}

// --receipt FILE.
int verify_receipt(const Options &o)
{
    return verify_receipt_text(o, read_file(o.receipt, nullptr), o.receipt);
}

// --consistency: the old note's tree is a prefix of the new note's.
int verify_consistency_proof(const Options &o)
{
    Checkpoint old_cp = tree_note(o, read_file(o.old_note, nullptr), "--old note");
    Checkpoint new_cp = tree_note(o, read_file(o.new_note, nullptr), "--new note");
    const core::CheckpointBody &a = old_cp.parsed.body, &b = new_cp.parsed.body;
    if (a.origin.len != b.origin.len || std::memcmp(a.origin.data, b.origin.data, a.origin.len) != 0)
        verdict_fail("NULL", "the two notes are of different logs (their origin lines differ)");
    std::string text = read_file(o.consistency, nullptr);
    std::vector<std::uint8_t> path;
    std::size_t n = 0, pos = 0;
    while (pos < text.size()) {
        std::size_t nl = text.find('\n', pos);
        if (nl == std::string::npos)
            nl = text.size();
        Field f;
        f.value = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (f.value.empty())
            continue;
        std::vector<std::uint8_t> hsh;
        if (!from_hex(f, &hsh) || hsh.size() != kHashLen || n == static_cast<std::size_t>(core::merkle::kMaxLevels))
            die("%s: not hex SHA-256 hashes, one per line", o.consistency.c_str());
        path.insert(path.end(), hsh.begin(), hsh.end());
        n++;
    }
    path.resize(kHashLen * (n + 1));
    OpensslSha256 h;
    if (!core::merkle::verify_consistency(h, a.size, b.size, a.root, b.root,
                                          reinterpret_cast<const std::uint8_t(*)[kHashLen]>(path.data()),
                                          static_cast<int>(n)))
        verdict_fail("NULL", format("the proof does not show the tree of %" PRId64 " leaves to be a prefix of the tree of %"
                                    PRId64 " leaves", a.size, b.size));
    std::printf("ok: the checkpoint of %" PRId64 " leaves is a prefix of the checkpoint of %" PRId64 " leaves\n", a.size, b.size);
    return kExitOk;
}

}  // namespace

#ifndef FA_VERIFY_FUZZ
int main(int argc, char **argv)
{
    Options o = parse_args(argc, argv);
    if (!o.receipt.empty())
        return verify_receipt(o);
    if (!o.consistency.empty())
        return verify_consistency_proof(o);

    // A checkpoint that is not one is bad input: refused before reading anything (verify_chain()
    // raises 22P02).
    Checkpoint cp;
    if (o.has_checkpoint) {
        cp.text = read_file(o.checkpoint, nullptr);
        if (const char *why = core::parse_checkpoint(cp.text.data(), cp.text.size(), &cp.parsed))
            die("invalid checkpoint %s: %s", o.checkpoint.c_str(), why);
    }

    Pass p;
    p.heads = load_chain_heads(o.dir + "/chain_head.csv");
    std::string audit_path = o.dir + "/audit_log.csv";
    if (!file_exists(audit_path))
        die("cannot read %s: %s", audit_path.c_str(), std::strerror(errno));

    std::string checkpoint_note;
    if (o.has_checkpoint) {
        check_signature(o, cp);
        if (cp.parsed.body.tree) {
            p.keep_row_hashes = true;  // the tree is checked after the walk, from the rows' row_hash
            checkpoint_note = format("; the %s checkpoint of %" PRId64 " leaves holds", cp.is_signed ? "signed" : "unsigned",
                                     cp.parsed.body.size);
        } else {
            load_checkpoint_heads(o, cp);
            p.sealed = &cp.sealed;
            checkpoint_note = format("; the %s checkpoint of %" PRId64 " rows at seq %" PRId64 " holds",
                                     cp.is_signed ? "signed" : "unsigned", cp.parsed.body.size, cp.parsed.body.max_seq);
        }
    }

    walk(audit_path, p);
    if (p.keep_row_hashes) {
        // verify_chain() checks the tree before the chains and reports only the tree then.
        std::int64_t bad_seq;
        std::string problem = check_tree(o, cp, p, &bad_seq);
        if (!problem.empty())
            verdict_fail(bad_seq != 0 ? std::to_string(bad_seq).c_str() : "NULL", problem);
    }
    for (std::size_t i = 0; i < p.heads.recs.size(); i++)
        if (!p.heads.seen[i])
            core::report_chain_removed(p.heads.recs[i], p.problems);
    if (p.sealed != nullptr)
        for (std::size_t i = 0; i < p.sealed->recs.size(); i++)
            if (!p.sealed->seen[i])
                core::report_sealed_chain_missing(p.sealed->recs[i], p.problems);

    std::int64_t count = p.problems.count();
    if (count == 0) {
        std::printf("ok: verified %" PRId64 " rows in %" PRId64 " chains%s\n", p.walker.rows(), p.walker.chains(),
                    checkpoint_note.c_str());
        return kExitOk;
    }
    std::string detail = p.problems.first_text();
    if (count > 1)
        detail += format("; %" PRId64 " problems in all", count);
    verdict_fail(std::to_string(p.problems.first_seq()).c_str(), detail);
}
#endif  // FA_VERIFY_FUZZ
