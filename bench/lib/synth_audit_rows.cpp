// synth_audit_rows: audit_log rows for a benchmark's log, as COPY text, that verify.
//
// bench/publish.sh needs a 10 M-leaf log quickly.  append() writes about 8,000 rows/s here (each a
// locked head, a sequence draw, an insert and a head update; docs/benchmarks.md, "Publishing"),
// 20 minutes for 10 M.  This writes the rows append('BENCH_ROW', metadata => {"n": seq},
// chain => 'bench:<seq % CHAINS>') would write, hashed with the extension's own encoding
// (src/core/chain_record: docs/chain.md), for a superuser's COPY into forgea_audit.audit_log: the
// write guard takes such a COPY as a restore and checks every row as it lands (its row_hash
// recomputed from its content, its link to the row before it in its chain), so a row that would
// not verify is refused.  Then chain_head's rows (--heads), which the guard checks too (each names
// its chain's last row).  The integrator, checkpoint() and the publisher then run as in production.
//
//   synth_audit_rows STATE FIRST_SEQ COUNT CHAINS     rows FIRST_SEQ .. FIRST_SEQ+COUNT-1 on stdout
//   synth_audit_rows STATE --heads                    chain_head rows (chain_id, length, last_seq,
//                                                     last_hash) on stdout
// STATE is a file holding each chain's position, last seq and last row_hash between calls (one
// line per chain); it is created on the first call and rewritten (atomically) after each.
//
// With --webhook (last argument, in both forms) the rows are those of issue 23's log instead
// (bench/verify.sh's fill_forgea: append(action => 'LAB_STEP_CHECKED', actor_type => 'webhook',
// actor_id => 'github', target_type => 'lab_step', target_id, user_id, correlation_id, the
// webhook's 15-key metadata, chain => 'lab:sess-<seq % CHAINS>')), ~1 KB each, written in canonical
// JSON (keys by length, then bytewise: docs/chain.md section 3) so that the jsonb COPY reads back
// to the same bytes; the columns are then seq, chain_id, chain_pos, prev_hash, row_hash,
// created_at, actor_type, action, outcome, severity, metadata, user_id, actor_id, target_type,
// target_id, correlation_id.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "core/chain_record.hpp"
#include "core/hasher.hpp"
#include "core/sha256.hpp"

namespace core = forgea::core;

namespace {

struct Head {
    int64_t pos = 0;
    int64_t last_seq = 0;
    uint8_t hash[core::kHashLen] = {};
};

// The created_at of every row: 2026-12-01 00:00:00 UTC plus seq milliseconds (increasing with seq).
constexpr int64_t kBaseUnixUs = INT64_C(1796083200) * 1000000;

void hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

bool unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (std::sscanf(s + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = static_cast<uint8_t>(v);
    }
    return true;
}

std::vector<Head> read_state(const char *path, size_t chains)
{
    std::vector<Head> heads(chains);
    FILE *f = std::fopen(path, "r");
    if (f == nullptr)
        return heads;
    size_t i;
    long long pos, seq;
    char h[65];
    while (std::fscanf(f, "%zu %lld %lld %64s", &i, &pos, &seq, h) == 4) {
        if (i >= chains || !unhex(h, heads[i].hash, core::kHashLen)) {
            std::fprintf(stderr, "synth_audit_rows: %s does not match %zu chains\n", path, chains);
            std::exit(2);
        }
        heads[i].pos = pos;
        heads[i].last_seq = seq;
    }
    std::fclose(f);
    return heads;
}

void write_state(const char *path, const std::vector<Head> &heads)
{
    std::string tmp = std::string(path) + ".tmp";
    FILE *f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
        std::perror(tmp.c_str());
        std::exit(2);
    }
    char h[65];
    for (size_t i = 0; i < heads.size(); i++) {
        hex(heads[i].hash, core::kHashLen, h);
        std::fprintf(f, "%zu %" PRId64 " %" PRId64 " %s\n", i, heads[i].pos, heads[i].last_seq, h);
    }
    if (std::fclose(f) != 0 || std::rename(tmp.c_str(), path) != 0) {
        std::perror(path);
        std::exit(2);
    }
}

core::Bytes text(const std::string &s) { return core::Bytes{s.data(), s.size()}; }

// 64 hex digits derived from seq and a salt (the metadata's SHAs and ids).
std::string digest_hex(int64_t seq, char salt)
{
    std::string in = std::to_string(seq) + salt;
    uint8_t d[core::kHashLen];
    core::sha256(in.data(), in.size(), d);
    char h[65];
    hex(d, core::kHashLen, h);
    return std::string(h);
}

// The webhook's 15-key metadata of a LAB_STEP_CHECKED row (bench/verify.sh's fill_meta), in
// canonical JSON: keys by length, then bytewise.
std::string webhook_metadata(int64_t seq)
{
    std::string a = digest_hex(seq, 'a'), c = digest_hex(seq, 'c'), e = digest_hex(seq, 'e');
    std::string uuid = a.substr(0, 8) + "-" + a.substr(8, 4) + "-" + a.substr(12, 4) + "-" + a.substr(16, 4) + "-" + a.substr(20, 12);
    std::string student = std::to_string(seq % 10000);
    std::string m = "{\"ref\":\"refs/heads/main\",\"forced\":false,\"sender\":\"Student-" + student + "\"";
    m += ",\"created\":false,\"deleted\":false";
    m += ",\"attempt_id\":" + std::to_string(seq);
    m += ",\"before_sha\":\"" + e.substr(0, 40) + "\"";
    m += ",\"commit_sha\":\"" + a.substr(24, 40) + "\"";
    m += ",\"repository\":\"https://github.com/Student-" + student + "/git-basics\"";
    m += ",\"session_id\":\"sess-" + student + "\"";
    m += ",\"delivery_id\":\"" + uuid + "\"";
    m += ",\"commit_count\":" + std::to_string(1 + seq % 4);
    m += ",\"repository_id\":" + std::to_string(700000000 + seq % 10000);
    m += ",\"payload_sha256\":\"" + c + "\"";
    m += ",\"changed_path_count\":" + std::to_string(1 + seq % 9) + "}";
    return m;
}

}  // namespace

int main(int argc, char **argv)
{
    bool webhook = argc > 1 && std::strcmp(argv[argc - 1], "--webhook") == 0;
    if (webhook)
        argc--;
    const std::string prefix = webhook ? "lab:sess-" : "bench:";
    if (argc == 4 && std::strcmp(argv[2], "--heads") == 0) {
        size_t chains = std::strtoull(argv[3], nullptr, 10);
        std::vector<Head> heads = read_state(argv[1], chains);
        char h[65];
        for (size_t i = 0; i < heads.size(); i++) {
            if (heads[i].pos == 0)
                continue;
            hex(heads[i].hash, core::kHashLen, h);
            std::printf("%s%zu\t%" PRId64 "\t%" PRId64 "\t\\\\x%s\n", prefix.c_str(), i, heads[i].pos, heads[i].last_seq, h);
        }
        return 0;
    }
    if (argc != 5) {
        std::fprintf(stderr, "usage: synth_audit_rows STATE FIRST_SEQ COUNT CHAINS | STATE --heads CHAINS\n");
        return 2;
    }
    int64_t first = std::strtoll(argv[2], nullptr, 10);
    int64_t count = std::strtoll(argv[3], nullptr, 10);
    size_t chains = std::strtoull(argv[4], nullptr, 10);
    std::vector<Head> heads = read_state(argv[1], chains);
    const std::string actor_type = webhook ? "webhook" : "system", action = webhook ? "LAB_STEP_CHECKED" : "BENCH_ROW",
                      outcome = "success", severity = "INFO", actor_id = "github", target_type = "lab_step";
    core::Sha256 sha;
    std::string line;
    static char buf[1 << 16];
    std::setvbuf(stdout, buf, _IOFBF, sizeof buf);
    for (int64_t seq = first; seq < first + count; seq++) {
        Head &head = heads[static_cast<size_t>(seq) % chains];
        std::string chain_id = prefix + std::to_string(static_cast<size_t>(seq) % chains);
        std::string metadata = webhook ? webhook_metadata(seq) : "{\"n\":" + std::to_string(seq) + "}";
        std::string user_id = "user-" + std::to_string(seq % 4000), target_id = std::to_string(seq);
        std::string corr = webhook ? digest_hex(seq, 'u') : std::string();
        if (webhook)
            corr = corr.substr(0, 8) + "-" + corr.substr(8, 4) + "-" + corr.substr(12, 4) + "-" + corr.substr(16, 4) + "-" + corr.substr(20, 12);
        int64_t created_us = kBaseUnixUs + seq * 1000;
        core::AuditRecord r;
        r.seq = seq;
        r.chain_id = text(chain_id);
        r.chain_pos = head.pos + 1;
        r.prev_hash = head.hash;
        r.created_at_unix_us = created_us;
        r.actor_type = text(actor_type);
        r.action = text(action);
        r.outcome = text(outcome);
        r.severity = text(severity);
        r.metadata_json = text(metadata);
        if (webhook) {
            r.user_id = text(user_id);
            r.actor_id = text(actor_id);
            r.target_type = text(target_type);
            r.target_id = text(target_id);
            r.correlation_id = text(corr);
        }
        uint8_t row_hash[core::kHashLen];
        core::hash_record_v1(r, sha, row_hash);
        char prev_hex[65], row_hex[65];
        hex(head.hash, core::kHashLen, prev_hex);
        hex(row_hash, core::kHashLen, row_hex);
        time_t secs = static_cast<time_t>(created_us / 1000000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        char ts[64];
        std::snprintf(ts, sizeof ts, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
                      tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(created_us % 1000000));
        // seq, chain_id, chain_pos, prev_hash, row_hash, created_at, actor_type, action, outcome, severity, metadata
        std::printf("%" PRId64 "\t%s\t%" PRId64 "\t\\\\x%s\t\\\\x%s\t%s\t%s\t%s\t%s\t%s\t%s", seq, chain_id.c_str(),
                    r.chain_pos, prev_hex, row_hex, ts, actor_type.c_str(), action.c_str(), outcome.c_str(),
                    severity.c_str(), metadata.c_str());
        if (webhook)  // ... user_id, actor_id, target_type, target_id, correlation_id
            std::printf("\t%s\t%s\t%s\t%s\t%s", user_id.c_str(), actor_id.c_str(), target_type.c_str(), target_id.c_str(),
                        corr.c_str());
        std::putchar('\n');
        head.pos = r.chain_pos;
        head.last_seq = seq;
        std::memcpy(head.hash, row_hash, core::kHashLen);
    }
    if (std::fflush(stdout) != 0)
        return 2;
    write_state(argv[1], heads);
    return 0;
}
