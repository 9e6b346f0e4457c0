// forgea_audit_verify: checks an export of the audit log (tools/export_audit.sh) without trusting the
// server that wrote it.  It runs exactly the checks forgea_audit.verify_chain() runs (docs/chain.md,
// section 4; docs/checkpoints.md), with the same code: src/core's ChainWalker, FirstProblem,
// checkpoint parser, root and Ed25519 verification, here over CSV files and with OpenSSL's SHA-256.
//
//   forgea_audit_verify --dir OUTDIR [--checkpoint FILE] [--public-key PUB.pem ...] [--key-name NAME]
//
// OUTDIR holds audit_log.csv and chain_head.csv (and, for --checkpoint, checkpoint.txt and
// checkpoint_heads.csv), as COPY ... CSV HEADER writes them.  Prints one line, the verdict
// verify_chain() would give over the same rows:
//   ok: verified N rows in M chains[; the signed|unsigned checkpoint of N rows at seq S holds]
//   FAIL first_bad_seq=S: <detail>        (S is NULL when the checkpoint itself is refused)
// Exit status: 0 ok, 1 the verification failed, 2 bad usage or unreadable input.
//
// Builds from src/core and OpenSSL only (make verifier); no PostgreSQL.

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/chain_record.hpp"
#include "core/chain_verifier.hpp"
#include "core/checkpoint_note.hpp"
#include "core/csv_reader.hpp"
#include "core/ed25519.hpp"
#include "core/hex.hpp"
#include "core/hasher.hpp"
#include "core/json_text.hpp"
#include "core/merkle_tree.hpp"
#include "core/note_signature.hpp"
#include "core/receipt_check.hpp"
#include "core/sha256.hpp"
#include "core/witness.hpp"

namespace core = forgea::core;
using core::Bytes;
using core::HeadRecord;
using core::kHashLen;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitBadInput = 2;

// Bad usage or input the tool cannot check: a message on stderr, exit 2.
[[noreturn]] void die(const char *fmt, ...)
{
    std::va_list ap;
    va_start(ap, fmt);
    std::fputs("forgea_audit_verify: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(kExitBadInput);
}

// ---- CSV files (core::CsvReader: COPY ... CSV as tools/export_audit.sh writes it) -----------

using Field = core::CsvField;

// A CSV file of the export, opened by path; any error in it stops the tool (exit 2), naming the
// file and the line.
class CsvFile {
public:
    explicit CsvFile(std::string path) : path_(std::move(path)), f_(std::fopen(path_.c_str(), "rb")), csv_(f_)
    {
        if (f_ == nullptr)
            die("cannot read %s: %s", path_.c_str(), std::strerror(errno));
    }
    ~CsvFile() { std::fclose(f_); }
    CsvFile(const CsvFile &) = delete;
    CsvFile &operator=(const CsvFile &) = delete;

    long record_line() const { return csv_.record_line(); }

    // Reads the next record into fields; false at the end of the file.
    bool next(std::vector<Field> &fields)
    {
        switch (csv_.next(fields)) {
        case core::CsvReader::kRecord:
            return true;
        case core::CsvReader::kEnd:
            return false;
        case core::CsvReader::kError:
            break;
        }
        if (csv_.read_failed())
            die("error reading %s: %s", path_.c_str(), std::strerror(errno));
        die("%s line %ld: %s", path_.c_str(), csv_.error_line(), csv_.error());
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
    std::string path_;
    std::FILE *f_;
    core::CsvReader csv_;
};

// ---- field conversions -----------------------------------------------------------------------

Bytes bytes_of(const Field &f)
{
    return f.null ? Bytes{} : Bytes{f.value.data(), f.value.size()};
}

// A plain integer as COPY writes one: no sign but '-', no leading zero, no "-0" (an export whose
// "7" became "007" is not one the export wrote, even if it means the same number).
bool to_int64(const Field &f, std::int64_t *out)
{
    return !f.null && core::json::plain_int64_text(f.value, out);
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
    CsvFile csv(path);
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
    CsvFile csv(path);
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
    std::printf("FAIL first_bad_seq=%s: %s\n", first_bad_seq, detail.c_str());
    std::fflush(stdout);
    std::exit(kExitFailed);
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
    std::vector<std::string> public_keys;  // --public-key, repeatable: the log's keys (after a rotation, all of them)
    std::vector<std::string> witnesses;    // --witness VKEY, repeatable (--receipt): cosignatures required
    std::string key_name = "forgea_audit";
    bool has_checkpoint = false;
    bool has_public_key = false;
    bool allow_unsigned = false;  // --allow-unsigned: accept a note with no signature (content checked only)
    std::string receipt;          // --receipt FILE: a forgea_audit.receipt() document, or a tlog-proof
    std::string consistency;      // --consistency FILE: hex hashes, one per line
    std::string old_note, new_note;
    std::string note;             // --note FILE: a note alone, its signature checked
};

void usage(std::FILE *out)
{
    std::fputs("usage: forgea_audit_verify --dir OUTDIR [--checkpoint FILE] KEY\n"
               "       forgea_audit_verify --receipt RECEIPT KEY\n"
               "       forgea_audit_verify --consistency PROOF.txt --old NOTE --new NOTE KEY\n"
               "       forgea_audit_verify --note NOTE KEY\n"
               "       (--receipt also takes --witness VKEY ...)\n"
               "where KEY is --public-key PUB.pem [--public-key PUB.pem ...] [--key-name NAME], or --allow-unsigned\n"
               "\n"
               "Every checkpoint note given (--checkpoint, the receipt's, --old, --new, --note) must carry a\n"
               "signature by the public key (its line named NAME, default forgea_audit, with the key's C2SP\n"
               "key id) that verifies (after a key rotation, give every key of the log: a note signed by any of\n"
               "them holds); an unsigned note fails (exit 1) unless --allow-unsigned is given, which\n"
               "checks an unsigned note's content only.  The ok verdict names the key it checked against.\n"
               "\n"
               "--receipt: a receipt from forgea_audit.receipt(attempt_id): version 1, no key repeated, the\n"
               "row's fields must hash to its row_hash, the row must be the LAB_VERIFY_ATTEMPT row of the\n"
               "attempt_id it names (null claims no attempt, and fails for an attempt's row: receipt() always\n"
               "names it), and its leaf's RFC 6962 inclusion proof must\n"
               "lead to the note's root (docs/transparency.md).  Or the same receipt as C2SP tlog-proof@v1\n"
               "text (forgea_audit.receipt_tlog_proof(attempt_id); first line c2sp.org/tlog-proof@v1):\n"
               "its extra is the row, whose row_hash is the entry the proof at its index must include.\n"
               "--witness VKEY (repeatable): the receipt's checkpoint must carry a cosignature/v1 line by that\n"
               "witness (its C2SP verifier key, type 0x04) that verifies (C2SP tlog-cosignature).\n"
               "--consistency: the RFC 6962 consistency proof (hex hashes, one per line, from\n"
               "forgea_audit.consistency_proof(old, new)) must show that the tree of the --old note is a\n"
               "prefix of the tree of the --new note.  --note: the note parses\n"
               "and is signed by the key (what a checkpoint listener checks, docs/checkpoints.md).\n"
               "\n"
               "--dir verifies an export of forgea_audit's log (tools/export_audit.sh DBNAME OUTDIR\n"
               "[CHECKPOINT_FILE]) with the checks of forgea_audit.verify_chain([checkpoint]), without the\n"
               "database.\n"
               "  --dir OUTDIR         the export: audit_log.csv, chain_head.csv (and checkpoint.txt,\n"
               "                       checkpoint_heads.csv or merkle_leaf.csv when exported with a checkpoint)\n"
               "  --checkpoint FILE    a checkpoint note kept outside the database: every row it sealed\n"
               "                       must still be in the export, unchanged\n"
               "  --public-key PUB.pem the Ed25519 public key the notes must be signed with\n"
               "  --key-name NAME      the signer's key name in the note (default forgea_audit)\n"
               "  --allow-unsigned     accept unsigned notes (no key given; a signed note still needs one)\n"
               "Prints \"ok: ...\" and exits 0, or \"FAIL first_bad_seq=S: ...\" and exits 1;\n"
               "exits 2 on bad usage or input the tool cannot check (unreadable, malformed, not a receipt).\n",
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
        if (a == "--allow-unsigned") {
            o.allow_unsigned = true;
            continue;
        }
        std::string value;
        std::size_t eq = a.find('=');
        std::string name = a.substr(0, eq);
        if (name != "--dir" && name != "--checkpoint" && name != "--public-key" && name != "--key-name" &&
            name != "--receipt" && name != "--consistency" && name != "--old" && name != "--new" && name != "--note" &&
            name != "--witness") {
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
        } else if (name == "--note") {
            o.note = value;
        } else if (name == "--public-key") {
            o.public_keys.push_back(value);
            o.has_public_key = true;
        } else if (name == "--witness") {
            o.witnesses.push_back(value);
        } else {
            o.key_name = value;
        }
    }
    if (o.key_name.empty())
        die("--key-name must not be empty");
    if (o.allow_unsigned && o.has_public_key)
        die("--allow-unsigned and --public-key contradict each other: give the key to check signatures, or "
            "--allow-unsigned to accept unsigned notes");
    if (!o.witnesses.empty() && o.receipt.empty())
        die("--witness checks the cosignatures on a receipt's checkpoint: give --receipt");
    int modes = !o.receipt.empty() + !o.consistency.empty() + !o.note.empty();
    if (modes > 0) {
        if (!o.dir.empty() || o.has_checkpoint || modes > 1)
            die("--receipt, --consistency and --note are modes of their own: give one, without --dir or --checkpoint");
        if (!o.consistency.empty() && (o.old_note.empty() || o.new_note.empty()))
            die("--consistency needs --old NOTE and --new NOTE");
        return o;
    }
    if (o.dir.empty()) {
        usage(stderr);
        die("--dir is required");
    }
    if ((o.has_public_key || o.allow_unsigned) && !o.has_checkpoint)
        die("--public-key and --allow-unsigned are about a checkpoint's signature: give --checkpoint too");
    return o;
}

// The keys of --public-key (each PEM file), under --key-name, for a NotePolicy: after a key
// rotation the log has several (the receipt's checkpoint signed by an earlier one).
std::vector<core::NoteKey> load_keys(const Options &o)
{
    std::vector<core::NoteKey> keys;
    for (const std::string &file : o.public_keys) {
        core::Ed25519Key pem;
        char err[512];
        if (!core::load_ed25519_pem(file.c_str(), &pem, err, sizeof err))
            die("cannot use --public-key %s: %s", file.c_str(), err);
        core::Sha256 h;
        keys.push_back(core::make_note_key(o.key_name, pem.public_key, h));
    }
    return keys;
}

// ", public key FILE" of the key that signed (the verdict names the file it checked against).
std::string signer_suffix(const Options &o, int signer)
{
    if (signer < 0 || static_cast<std::size_t>(signer) >= o.public_keys.size())
        return "";
    return ", public key " + o.public_keys[static_cast<std::size_t>(signer)];
}

// The checkpoint, its signature and its sealed heads, checked in verify_chain()'s order.  Fails
// (exit 1, first_bad_seq NULL) where verify_chain() returns before reading any row.
struct Checkpoint {
    std::string text;
    core::ParsedCheckpoint parsed;
    bool is_signed = false;
    std::string accepted;  // how the signature rule accepted it (core::NoteVerdict::text)
    HeadList sealed;
};

// The signature rule (core::check_note_signature) with the key the options name: a failure is
// the verdict (exit 1), a signed note with no key to check it bad usage (exit 2).
void check_signature(const Options &o, Checkpoint &cp)
{
    std::vector<core::NoteKey> keys = load_keys(o);
    core::NotePolicy policy;
    policy.allow_unsigned = o.allow_unsigned;
    if (!keys.empty()) {
        policy.key = keys.data();
        policy.key_count = static_cast<int>(keys.size());
    }
    core::NoteVerdict v = core::check_note_signature(cp.parsed, policy);
    cp.is_signed = v.is_signed;
    if (v.outcome == core::Outcome::kBadInput)
        die("%s", v.text.c_str());
    if (v.outcome == core::Outcome::kFailed)
        verdict_fail("NULL", v.text);
    cp.accepted = v.text + signer_suffix(o, v.signer);
}

// A note given to --consistency or --note: parsed, and signed as the options require.
Checkpoint read_note(const Options &o, const std::string &path, bool need_tree)
{
    Checkpoint cp;
    cp.text = read_file(path, nullptr);
    if (const char *why = core::parse_checkpoint(cp.text.data(), cp.text.size(), &cp.parsed))
        die("invalid checkpoint %s: %s", path.c_str(), why);
    if (need_tree && !cp.parsed.body.tree)
        die("%s is a 0.1.0 chain-heads checkpoint, not a transparency-log note: it has no tree to prove against",
            path.c_str());
    check_signature(o, cp);
    return cp;
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
        core::Sha256 h;
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
    CsvFile csv(path);
    csv.expect_header(kAuditColumns);
    std::vector<Field> f;
    std::vector<std::uint8_t> prev, stored;
    core::Sha256 hasher;
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
    CsvFile csv(path);
    csv.expect_header({"leaf_index", "seq", "leaf_hash"});
    std::int64_t size = cp.parsed.body.size;
    core::merkle::Frontier *f = new core::merkle::Frontier();
    core::merkle::DiscardNodes drop;
    core::Sha256 h;
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

int verify_consistency_proof(const Options &o)
{
    Checkpoint old_cp = read_note(o, o.old_note, true);
    Checkpoint new_cp = read_note(o, o.new_note, true);
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
    core::Sha256 h;
    if (!core::merkle::verify_consistency(h, a.size, b.size, a.root, b.root,
                                          reinterpret_cast<const std::uint8_t(*)[kHashLen]>(path.data()),
                                          static_cast<int>(n)))
        verdict_fail("NULL", format("the proof does not show the tree of %" PRId64 " leaves to be a prefix of the tree of %"
                                    PRId64 " leaves", a.size, b.size));
    std::printf("ok: the checkpoint of %" PRId64 " leaves is a prefix of the checkpoint of %" PRId64 " leaves; both %s\n",
                a.size, b.size, new_cp.accepted.c_str());
    return kExitOk;
}

// The receipt's checkpoint against each --witness: a cosignature/v1 line by that witness (its
// name and key id) must verify over the note's body (C2SP tlog-cosignature).  "" when every
// witness cosigned (*said lists them), else what is missing or wrong.
std::string check_receipt_witnesses(const Options &o, const std::string &note, std::string *said)
{
    core::ParsedCheckpoint cp;
    if (const char *why = core::parse_checkpoint(note.data(), note.size(), &cp))
        return std::string("the receipt's checkpoint does not parse: ") + why;
    std::size_t lines_at = cp.text_signed.len + 1;  // after the body and its blank line
    for (const std::string &text : o.witnesses) {
        core::witness::Vkey w;
        core::Sha256 h;
        if (const char *why = core::witness::parse_vkey(text, &w, h))
            die("--witness %s: %s", text.c_str(), why);
        if (w.type != core::witness::kTypeCosignatureV1)
            die("--witness %s: a witness's key has type 0x04 (cosignature/v1), this one 0x%02x", text.c_str(), w.type);
        core::witness::CosignatureCheck c;
        if (lines_at > note.size() ||
            !core::witness::check_cosignatures(note.data() + lines_at, note.size() - lines_at, cp.text_signed, w, &c))
            return "the receipt's checkpoint has something else than signature lines after its body";
        if (c.valid == 0)
            return c.invalid > 0 ? format("witness \"%s\"'s cosignature on the receipt's checkpoint does not verify (the checkpoint "
                                          "or the cosignature was altered)", w.name.c_str())
                                 : format("the receipt's checkpoint carries no cosignature by witness \"%s\" (key id %08x)",
                                          w.name.c_str(), w.key_id);
        *said += format("; cosigned by witness \"%s\" at %" PRIu64, w.name.c_str(), c.timestamp);
    }
    return "";
}

// --receipt FILE: core::check_receipt, with the keys the options name, then the witnesses'
// cosignatures on its checkpoint (the receipt carries the checkpoint as published).
int verify_receipt(const Options &o)
{
    std::string text = read_file(o.receipt, nullptr);
    std::vector<core::NoteKey> keys = load_keys(o);
    core::NotePolicy policy;
    policy.allow_unsigned = o.allow_unsigned;
    if (!keys.empty()) {
        policy.key = keys.data();
        policy.key_count = static_cast<int>(keys.size());
    }
    core::Sha256 h;
    core::ReceiptVerdict v = core::check_receipt(text.data(), text.size(), policy, h);
    switch (v.outcome) {
    case core::Outcome::kOk: {
        std::string cosigned;
        std::string problem = check_receipt_witnesses(o, v.note, &cosigned);
        if (!problem.empty())
            verdict_fail(std::to_string(v.seq).c_str(), problem);
        std::printf("ok: %s%s%s\n", v.text.c_str(), signer_suffix(o, v.signer).c_str(), cosigned.c_str());
        return kExitOk;
    }
    case core::Outcome::kFailed:
        verdict_fail(v.has_seq ? std::to_string(v.seq).c_str() : "NULL", v.text);
    case core::Outcome::kBadInput:
        break;
    }
    die("%s: %s", o.receipt.c_str(), v.text.c_str());
}

// --note FILE: the note parses and is signed by the key (a checkpoint listener keeps it only then).
int verify_note(const Options &o)
{
    Checkpoint cp = read_note(o, o.note, false);
    const core::CheckpointBody &b = cp.parsed.body;
    std::printf("ok: the %s of %" PRId64 " %s of %.*s is %s\n", b.tree ? "checkpoint" : "0.1.0 checkpoint", b.size,
                b.tree ? "leaves" : "rows", static_cast<int>(b.origin.len), b.origin.data, cp.accepted.c_str());
    return kExitOk;
}

}  // namespace

int main(int argc, char **argv)
{
    Options o = parse_args(argc, argv);
    if (!o.receipt.empty())
        return verify_receipt(o);
    if (!o.consistency.empty())
        return verify_consistency_proof(o);
    if (!o.note.empty())
        return verify_note(o);

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
        // After verify_chain()'s words, the key it was checked against (verify_chain() uses the
        // server's verify_key_file; the tool only the key it was given).
        checkpoint_note += "; " + cp.accepted;
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
