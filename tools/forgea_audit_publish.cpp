// forgea_audit_publish: writes the transparency log of a forgea_audit database as a static C2SP
// tlog-tiles log (docs/publishing.md), for any HTTP server or object store to serve:
//
//   DIR/checkpoint                  the newest signed checkpoint, byte for byte as stored
//   DIR/tile/<L>/<N>[.p/<W>]        hash tiles of height 8, from forgea_audit.merkle_tile
//   DIR/tile/entries/<N>[.p/<W>]    entry bundles: per leaf, u16be(32) || row_hash
//
// It publishes exactly the tree of the newest checkpoint's size.  Incremental: the tiles already
// published for the previous checkpoint are not read from the database again, a full tile is
// written once and never rewritten, and a run with nothing new writes no file.  Atomic: every file
// is written under a temporary name and renamed; the tiles are flushed to disk (syncfs) before the
// checkpoint is (temporary name, fsync, rename, fsync of DIR), so a reader who fetched the
// checkpoint finds every tile it implies.  Partial tiles an older checkpoint needed are removed
// only when the tile that superseded them is older than --grace.
//
// Before anything is written it checks what it publishes: the checkpoint's root equals the root
// computed from the tiles, every entry's leaf hash equals its level-0 tile hash, the previously
// published checkpoint's root equals the root of that many leaves of the database's tree (the new
// one extends it), and a tile that already exists equals the database's.  A failed check (exit 1)
// publishes nothing.  Exit 2: bad usage, the database or the directory could not be used.
//
// Witnesses (docs/witnesses.md): with --witness NAME+KEYHASH+KEY=URL (repeatable) and --quorum K,
// each new checkpoint is sent to every witness's URL/add-checkpoint (C2SP tlog-witness) with the
// size that witness last cosigned (remembered in DIR/.witnesses) and a consistency proof from
// there; a 409 is retried from the size in its body, 400/403/404/422 stop that witness and are
// reported; every cosignature/v1 line returned is verified with the witness's key.  The checkpoint
// is published with the valid cosignature lines appended only if at least K witnesses cosigned;
// otherwise the previous checkpoint stays (exit 3) and each witness's answer is printed.  Every
// run that had a new checkpoint records it, published or not, with every witness's answer, through
// forgea_audit.record_publication() (forgea_audit.published_checkpoint, forgea_audit.health).
//
// Pure core (src/core: note parsing, base64, the RFC 6962 fold, tlog-witness) + libpq + libcurl
// (HTTP and HTTPS to witnesses) + OpenSSL's SHA-256.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "core/base64.hpp"
#include "core/checkpoint_note.hpp"
#include "core/hasher.hpp"
#include "core/merkle_tree.hpp"
#include "core/sha256.hpp"
#include "core/witness.hpp"

namespace core = forgea::core;
namespace merkle = forgea::core::merkle;
namespace wp = forgea::core::witness;
using core::kHashLen;

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitBadInput = 2;
constexpr int kExitQuorumMissed = 3;
constexpr int kTileWidth = merkle::kTileWidth;
constexpr int kHashBytes = static_cast<int>(kHashLen);
constexpr int64_t kChunkTiles = 256;  // tiles (and their bundles) read per query: 2 MB of hashes

// Prints "forgea_audit_publish: <message>" to stderr and exits with code.
[[noreturn]] void fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::fputs("forgea_audit_publish: ", stderr);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
    std::exit(code);
}

// ---- Paths (C2SP tlog-tiles) ------------------------------------------------------------------

// N as the spec writes it: groups of three digits, all but the last prefixed with "x"
// (1234067 -> x001/x234/067).
std::string tile_index_path(int64_t n)
{
    std::vector<int> groups;
    do {
        groups.push_back(static_cast<int>(n % 1000));
        n /= 1000;
    } while (n > 0);
    std::string out;
    char buf[8];
    for (size_t i = groups.size(); i-- > 0;) {
        std::snprintf(buf, sizeof buf, i > 0 ? "x%03d/" : "%03d", groups[i]);
        out += buf;
    }
    return out;
}

// "tile/<level>/<N>" or "tile/entries/<N>", with ".p/<W>" for a partial tile (width < 256).
std::string tile_path(const std::string &level, int64_t n, int width)
{
    std::string p = "tile/" + level + "/" + tile_index_path(n);
    if (width < kTileWidth)
        p += ".p/" + std::to_string(width);
    return p;
}

// ---- Files --------------------------------------------------------------------------------------

struct Out {
    std::string dir;
    int dir_fd = -1;
    long files_written = 0;
    long files_checked = 0;
    std::set<std::string> dirs_known;      // directories known to exist (made or found) this run
    std::set<std::string> dirs_made;       // directories this run created (nothing in them before)
    std::vector<std::string> unsynced;     // files written without fsync, for sync_written()
    std::set<std::string> unsynced_dirs;   // their directories
};

// mkdir -p of the directories above rel (relative to the output directory), each looked at once
// per run; true if rel's own directory was created now (so rel cannot exist yet).
bool make_parents(Out &out, const std::string &rel)
{
    bool made = false;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
        std::string d = rel.substr(0, slash);
        if (out.dirs_known.count(d) != 0) {
            made = out.dirs_made.count(d) != 0;
            continue;
        }
        made = mkdirat(out.dir_fd, d.c_str(), 0755) == 0;
        if (!made && errno != EEXIST)
            fail(kExitBadInput, "cannot create %s/%s: %s", out.dir.c_str(), d.c_str(), std::strerror(errno));
        out.dirs_known.insert(d);
        if (made) {
            out.dirs_made.insert(d);
            // The new directory's entry in its parent must reach the disk before the checkpoint too.
            size_t up = d.rfind('/');
            out.unsynced_dirs.insert(up == std::string::npos ? std::string(".") : d.substr(0, up));
        }
    }
    return made;
}

// The content of a file under the output directory; false if it does not exist.
bool read_file(const Out &out, const std::string &rel, std::string *content)
{
    int fd = openat(out.dir_fd, rel.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return false;
        fail(kExitBadInput, "cannot read %s/%s: %s", out.dir.c_str(), rel.c_str(), std::strerror(errno));
    }
    content->clear();
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0)
            fail(kExitBadInput, "cannot read %s/%s: %s", out.dir.c_str(), rel.c_str(), std::strerror(errno));
        if (n == 0)
            break;
        content->append(buf, static_cast<size_t>(n));
    }
    close(fd);
    return true;
}

// Writes rel under a temporary name in its directory, then renames it into place: a reader sees
// the old file, no file, or the whole new one, never a part.  With sync, the file is fsync'ed
// before the rename and the directory after it.
void write_atomically(Out &out, const std::string &rel, const void *data, size_t len, bool sync)
{
    make_parents(out, rel);
    std::string tmp = rel + ".tmp." + std::to_string(getpid());
    int fd = openat(out.dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        fail(kExitBadInput, "cannot create %s/%s: %s", out.dir.c_str(), tmp.c_str(), std::strerror(errno));
    const char *p = static_cast<const char *>(data);
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail(kExitBadInput, "cannot write %s/%s: %s", out.dir.c_str(), tmp.c_str(), std::strerror(errno));
        }
        done += static_cast<size_t>(n);
    }
    if (sync && fsync(fd) != 0)
        fail(kExitBadInput, "cannot fsync %s/%s: %s", out.dir.c_str(), tmp.c_str(), std::strerror(errno));
    if (close(fd) != 0)
        fail(kExitBadInput, "cannot write %s/%s: %s", out.dir.c_str(), tmp.c_str(), std::strerror(errno));
    if (renameat(out.dir_fd, tmp.c_str(), out.dir_fd, rel.c_str()) != 0)
        fail(kExitBadInput, "cannot rename %s/%s: %s", out.dir.c_str(), tmp.c_str(), std::strerror(errno));
    if (sync && fsync(out.dir_fd) != 0)
        fail(kExitBadInput, "cannot fsync %s: %s", out.dir.c_str(), std::strerror(errno));
    if (!sync) {
        out.unsynced.push_back(rel);
        size_t up = rel.rfind('/');
        out.unsynced_dirs.insert(up == std::string::npos ? std::string(".") : rel.substr(0, up));
    }
    out.files_written++;
}

// Flushes to disk every file written without fsync and the directories holding them (their new
// names), before the checkpoint that needs them is written.  A few files (an incremental run)
// are fsync'ed one by one: syncfs() would also flush everything else dirty on the file system,
// the database's own pages included, every second.  Many files (a first publication) are flushed
// with one syncfs(), far cheaper than tens of thousands of fsyncs.  (Writing every file first and
// fsyncing afterwards lets the first fsync's journal commit carry the others.)
constexpr size_t kSyncfsAbove = 4096;

void sync_written(Out &out)
{
    if (out.unsynced.size() > kSyncfsAbove) {
        if (syncfs(out.dir_fd) != 0)
            fail(kExitBadInput, "cannot flush %s: %s", out.dir.c_str(), std::strerror(errno));
    } else {
        auto sync_one = [&](const std::string &rel, int flags) {
            int fd = openat(out.dir_fd, rel.c_str(), flags | O_CLOEXEC);
            if (fd < 0 || fsync(fd) != 0)
                fail(kExitBadInput, "cannot fsync %s/%s: %s", out.dir.c_str(), rel.c_str(), std::strerror(errno));
            close(fd);
        };
        for (const auto &f : out.unsynced)
            sync_one(f, O_RDONLY);
        for (const auto &d : out.unsynced_dirs)
            sync_one(d, O_RDONLY | O_DIRECTORY);
    }
    out.unsynced.clear();
    out.unsynced_dirs.clear();
}

// Publishes one tile (or bundle): a new file is written; an existing one must hold exactly this
// content (a full tile never changes; a partial tile of a given width is the same for every
// checkpoint that needs it), else the published log and the database disagree: refused.
void put_tile(Out &out, const std::string &rel, const std::string &content)
{
    std::string existing;
    if (!make_parents(out, rel) && read_file(out, rel, &existing)) {
        out.files_checked++;
        if (existing != content)
            fail(kExitRefused,
                 "%s/%s is already published with other content than the database's: the database's log is not "
                 "the one published there (another database, or its history was rewritten); nothing was written",
                 out.dir.c_str(), rel.c_str());
        return;
    }
    write_atomically(out, rel, content.data(), content.size(), false);
}

// ---- The database -------------------------------------------------------------------------------

// Runs a query with text parameters and binary results; fails on error.
PGresult *query(PGconn *db, const char *sql, std::vector<std::string> params)
{
    std::vector<const char *> values;
    for (const auto &p : params)
        values.push_back(p.c_str());
    PGresult *r = PQexecParams(db, sql, static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        fail(kExitBadInput, "query failed: %s", PQerrorMessage(db));
    return r;
}

// A big-endian int8 from a binary result.
int64_t int8_at(PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col) || PQgetlength(r, row, col) != 8)
        fail(kExitBadInput, "unexpected NULL or non-bigint in a result");
    const auto *b = reinterpret_cast<const uint8_t *>(PQgetvalue(r, row, col));
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return static_cast<int64_t>(v);
}

// One run of hashes of a tile level that a root needs: the level-8L nodes [first, first + count)
// (count <= 256, all in one tile).
struct Slice {
    int level;
    int64_t first;
    int count;
};

// The hashes of every slice, in order, from merkle_tile's hashes column in one query (a root
// needs up to 63 slices: one round trip instead of 63, each a parse and plan in the backend).
std::vector<std::string> tile_slices(PGconn *db, const std::vector<Slice> &slices)
{
    std::string levels = "{", idxs = "{", offs = "{", counts = "{";
    for (size_t i = 0; i < slices.size(); i++) {
        const char *sep = i > 0 ? "," : "";
        levels += sep + std::to_string(slices[i].level);
        idxs += sep + std::to_string(slices[i].first / kTileWidth);
        offs += sep + std::to_string(slices[i].first % kTileWidth);
        counts += sep + std::to_string(slices[i].count);
    }
    PGresult *r = query(db,
                        "SELECT substring(t.hashes FROM u.off * 32 + 1 FOR u.n * 32) "
                        "FROM unnest($1::smallint[], $2::bigint[], $3::int[], $4::int[]) WITH ORDINALITY AS u(level, idx, off, n, o) "
                        "LEFT JOIN forgea_audit.merkle_tile t ON t.level = u.level AND t.idx = u.idx ORDER BY u.o",
                        {levels + "}", idxs + "}", offs + "}", counts + "}"});
    if (PQntuples(r) != static_cast<int>(slices.size()))
        fail(kExitBadInput, "the tile slice query returned %d rows for %zu slices", PQntuples(r), slices.size());
    std::vector<std::string> out;
    for (size_t i = 0; i < slices.size(); i++) {
        const Slice &sl = slices[i];
        int row = static_cast<int>(i);
        if (PQgetisnull(r, row, 0) || PQgetlength(r, row, 0) != sl.count * kHashBytes)
            fail(kExitRefused, "merkle_tile (%d, %" PRId64 ") does not hold the hashes %" PRId64 "..%" PRId64
                 " the checkpoint needs", sl.level, sl.first / kTileWidth, sl.first % kTileWidth,
                 sl.first % kTileWidth + sl.count - 1);
        out.emplace_back(PQgetvalue(r, row, 0), static_cast<size_t>(sl.count) * kHashLen);
    }
    PQclear(r);
    return out;
}

// The RFC 6962 root of the first `size` leaves, from the stored tiles only: each complete subtree
// of range_nodes(0, size) of height 8L + r is the fold of 2^r consecutive hashes of a level-L
// tile (r < 8), so at most 63 slices of at most 128 hashes are read (one query) and folded.
void root_from_tiles(PGconn *db, int64_t size, core::Hasher &h, uint8_t root[kHashLen])
{
    if (size == 0) {
        merkle::empty_root(h, root);
        return;
    }
    merkle::NodeId nodes[merkle::kMaxLevels];
    int count = merkle::range_nodes(0, size, nodes);
    std::vector<Slice> slices;
    for (int i = 0; i < count; i++) {
        int r = nodes[i].level % merkle::kTileHeight;
        slices.push_back(Slice{nodes[i].level / merkle::kTileHeight, nodes[i].index << r, 1 << r});
    }
    std::vector<std::string> got = tile_slices(db, slices);
    std::vector<uint8_t> hashes(static_cast<size_t>(count) * kHashLen);
    for (int i = 0; i < count; i++) {
        std::vector<uint8_t> row(got[i].begin(), got[i].end());
        for (int width = slices[i].count; width > 1; width /= 2)
            for (int j = 0; j < width / 2; j++)
                merkle::node_hash(h, &row[2 * j * kHashLen], &row[(2 * j + 1) * kHashLen], &row[j * kHashLen]);
        std::memcpy(&hashes[static_cast<size_t>(i) * kHashLen], row.data(), kHashLen);
    }
    merkle::fold_range(h, reinterpret_cast<const uint8_t(*)[kHashLen]>(hashes.data()), count, root);
}

// ---- One tile level -------------------------------------------------------------------------------

// The tiles of one level that the tree of new_size leaves has and the tree of old_size had not
// (exactly as C2SP/Go's tlog.NewTiles lists them): the full tiles from the old size's partial one
// on, and the new size's partial tile if any.
struct LevelRange {
    int64_t first = 0;       // first tile index to publish
    int64_t full_end = 0;    // tiles [first, full_end) are full
    int partial_width = 0;   // tile full_end has this width (0: none)
};

LevelRange level_range(int level, int64_t old_size, int64_t new_size)
{
    LevelRange lr;
    int64_t old_n = old_size >> (merkle::kTileHeight * level);
    int64_t new_n = new_size >> (merkle::kTileHeight * level);
    if (old_n == new_n) {
        lr.first = lr.full_end = 0;
        return lr;
    }
    lr.first = old_n / kTileWidth;
    lr.full_end = new_n / kTileWidth;
    lr.partial_width = static_cast<int>(new_n % kTileWidth);
    return lr;
}

// The row_hash of every leaf of [first, end), in leaf order, for the entry bundles.
struct LeafRows {
    std::vector<const char *> row_hash;  // kHashLen bytes each, inside results
    std::vector<PGresult *> results;
    void clear()
    {
        for (PGresult *r : results)
            PQclear(r);
        results.clear();
        row_hash.clear();
    }
};

// Reads the leaves' seqs (merkle_leaf, by its primary key), then their rows by a seq range of
// audit_log's primary key, matched here: two index range scans.  (A join of the two in SQL was
// planned as a hash join over a sequential scan of the whole audit_log per chunk of leaves:
// quadratic, 1.3 s per 65,536 leaves at 1 M rows.)  Leaves are integrated in seq order except
// for rows whose transaction committed late, which become later leaves: a chunk's seqs span more
// than twice its leaves only then, and are looked up one by one instead.
LeafRows leaf_rows(PGconn *db, int64_t first, int64_t end)
{
    LeafRows out;
    size_t n = static_cast<size_t>(end - first);
    PGresult *leaves = query(db,
                             "SELECT seq FROM forgea_audit.merkle_leaf WHERE leaf_index >= $1::bigint "
                             "AND leaf_index < $2::bigint ORDER BY leaf_index",
                             {std::to_string(first), std::to_string(end)});
    if (static_cast<size_t>(PQntuples(leaves)) != n)
        fail(kExitRefused, "merkle_leaf has %d of the leaves %" PRId64 "..%" PRId64 " the checkpoint needs",
             PQntuples(leaves), first, end - 1);
    std::vector<int64_t> seqs(n);
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        seqs[i] = int8_at(leaves, static_cast<int>(i), 0);
        lo = std::min(lo, seqs[i]);
        hi = std::max(hi, seqs[i]);
    }
    PQclear(leaves);
    PGresult *rows;
    if (n == 0)
        return out;
    if (static_cast<uint64_t>(hi - lo) < 2 * n) {
        rows = query(db, "SELECT seq, row_hash FROM forgea_audit.audit_log WHERE seq >= $1::bigint AND seq <= $2::bigint "
                         "ORDER BY seq",
                     {std::to_string(lo), std::to_string(hi)});
    } else {
        std::string list = "{";
        for (size_t i = 0; i < n; i++)
            list += (i > 0 ? "," : "") + std::to_string(seqs[i]);
        rows = query(db, "SELECT a.seq, a.row_hash FROM forgea_audit.audit_log a WHERE a.seq = ANY ($1::bigint[]) ORDER BY a.seq",
                     {list + "}"});
    }
    out.results.push_back(rows);
    int found = PQntuples(rows);
    std::vector<int64_t> row_seqs(static_cast<size_t>(found));
    for (int r = 0; r < found; r++)
        row_seqs[static_cast<size_t>(r)] = int8_at(rows, r, 0);
    out.row_hash.resize(n);
    for (size_t i = 0; i < n; i++) {
        auto it = std::lower_bound(row_seqs.begin(), row_seqs.end(), seqs[i]);
        if (it == row_seqs.end() || *it != seqs[i])
            fail(kExitRefused, "leaf %" PRId64 " (seq %" PRId64 ") has no audit row (run as forgea_audit_admin: a reader "
                 "sees only its tenant's rows)", first + static_cast<int64_t>(i), seqs[i]);
        int r = static_cast<int>(it - row_seqs.begin());
        if (PQgetisnull(rows, r, 1) || PQgetlength(rows, r, 1) != kHashBytes)
            fail(kExitRefused, "leaf %" PRId64 "'s row_hash is not 32 bytes", first + static_cast<int64_t>(i));
        out.row_hash[i] = PQgetvalue(rows, r, 1);
    }
    return out;
}

// Publishes the tiles of a level (for level 0 also the entry bundles, checked against the leaf
// hashes), reading the database in chunks of kChunkTiles tiles.
void publish_level(PGconn *db, Out &out, int level, const LevelRange &lr, core::Hasher &h)
{
    int64_t end = lr.full_end + (lr.partial_width > 0 ? 1 : 0);
    for (int64_t lo = lr.first; lo < end; lo += kChunkTiles) {
        int64_t hi = std::min(end, lo + kChunkTiles);  // tiles [lo, hi)
        PGresult *tiles = query(db,
                                "SELECT idx, hashes FROM forgea_audit.merkle_tile WHERE level = $1::smallint "
                                "AND idx >= $2::bigint AND idx < $3::bigint ORDER BY idx",
                                {std::to_string(level), std::to_string(lo), std::to_string(hi)});
        if (PQntuples(tiles) != hi - lo)
            fail(kExitRefused, "merkle_tile has %d of the level-%d tiles %" PRId64 "..%" PRId64 " the checkpoint needs",
                 PQntuples(tiles), level, lo, hi - 1);
        LeafRows entries;
        if (level == 0) {
            int64_t leaf_end = std::min(hi * kTileWidth, lr.full_end * kTileWidth + lr.partial_width);
            entries = leaf_rows(db, lo * kTileWidth, leaf_end);
        }
        for (int64_t t = lo; t < hi; t++) {
            int row = static_cast<int>(t - lo);
            if (int8_at(tiles, row, 0) != t)
                fail(kExitRefused, "merkle_tile has no level-%d tile %" PRId64, level, t);
            int width = t < lr.full_end ? kTileWidth : lr.partial_width;
            int stored = PQgetlength(tiles, row, 1);
            if (stored < width * kHashBytes || (width == kTileWidth && stored != width * kHashBytes))
                fail(kExitRefused, "merkle_tile (%d, %" PRId64 ") holds %d bytes, the checkpoint needs %d", level, t,
                     stored, width * kHashBytes);
            std::string tile(PQgetvalue(tiles, row, 1), static_cast<size_t>(width) * kHashLen);
            if (level == 0) {
                std::string bundle;
                bundle.reserve(static_cast<size_t>(width) * (2 + kHashLen));
                for (int i = 0; i < width; i++) {
                    const char *rh = entries.row_hash[static_cast<size_t>(row * kTileWidth + i)];
                    uint8_t leaf[kHashLen];
                    merkle::leaf_hash(h, rh, kHashLen, leaf);
                    if (std::memcmp(leaf, tile.data() + static_cast<size_t>(i) * kHashLen, kHashLen) != 0)
                        fail(kExitRefused, "leaf %" PRId64 ": SHA-256(0x00 || row_hash) is not the hash merkle_tile "
                             "holds for it (the row or the tile was altered); nothing was published",
                             t * kTileWidth + i);
                    bundle.push_back('\0');
                    bundle.push_back(static_cast<char>(kHashLen));
                    bundle.append(rh, kHashLen);
                }
                put_tile(out, tile_path("entries", t, width), bundle);
            }
            put_tile(out, tile_path(std::to_string(level), t, width), tile);
        }
        PQclear(tiles);
        entries.clear();
    }
}

// ---- Removing superseded partial tiles ----------------------------------------------------------

// Under tile/<level>/ (a number or "entries"), every "<N>.p" directory: a partial tile of width W
// in it is superseded once the full tile <N> or a wider partial exists; it is removed once the
// file that superseded it (the full tile, else the next wider partial) is older than grace
// seconds, so a reader who fetched an older checkpoint within the grace period still finds it.
// The partial tiles the published checkpoint needs are never superseded.
long remove_superseded(Out &out, const std::string &rel_dir, time_t now, long grace, const std::set<std::string> &keep)
{
    long removed = 0;
    int fd = openat(out.dir_fd, rel_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (d == nullptr) {
        close(fd);
        return 0;
    }
    std::vector<std::string> subdirs, partial_dirs;
    while (dirent *e = readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..")
            continue;
        if (name.size() > 2 && name.compare(name.size() - 2, 2, ".p") == 0)
            partial_dirs.push_back(name);
        else if (name[0] == 'x')
            subdirs.push_back(name);
    }
    closedir(d);
    for (const auto &s : subdirs)
        removed += remove_superseded(out, rel_dir + "/" + s, now, grace, keep);
    for (const auto &p : partial_dirs) {
        std::string pdir = rel_dir + "/" + p;
        std::string full = rel_dir + "/" + p.substr(0, p.size() - 2);
        int pfd = openat(out.dir_fd, pdir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd < 0)
            continue;
        DIR *pd = fdopendir(pfd);
        if (pd == nullptr) {
            close(pfd);
            continue;
        }
        std::set<int> widths;
        while (dirent *e = readdir(pd)) {
            char *endp = nullptr;
            long w = std::strtol(e->d_name, &endp, 10);
            if (e->d_name[0] != '\0' && *endp == '\0' && w > 0 && w < kTileWidth)
                widths.insert(static_cast<int>(w));
        }
        closedir(pd);
        auto mtime = [&](const std::string &rel, time_t *t) {
            struct stat st;
            if (fstatat(out.dir_fd, rel.c_str(), &st, 0) != 0)
                return false;
            *t = st.st_mtime;
            return true;
        };
        time_t full_t = 0;
        bool has_full = mtime(full, &full_t);
        size_t left = widths.size();
        for (auto it = widths.begin(); it != widths.end(); ++it) {
            auto next = std::next(it);
            time_t superseded_at = 0;
            bool superseded = next != widths.end() ? mtime(pdir + "/" + std::to_string(*next), &superseded_at)
                                                   : (has_full && (superseded_at = full_t, true));
            if (!superseded || now - superseded_at < grace)
                continue;
            std::string f = pdir + "/" + std::to_string(*it);
            if (keep.count(f) == 0 && unlinkat(out.dir_fd, f.c_str(), 0) == 0) {
                removed++;
                left--;
            }
        }
        if (left == 0)
            unlinkat(out.dir_fd, pdir.c_str(), AT_REMOVEDIR);
    }
    return removed;
}

// The partial tiles the checkpoint of `size` leaves needs (never removed), then
// remove_superseded() under every level directory of tile/.
long remove_superseded_all(Out &out, int64_t size, time_t now, long grace)
{
    std::set<std::string> keep;
    for (int level = 0; (size >> (merkle::kTileHeight * level)) > 0; level++) {
        int64_t n = size >> (merkle::kTileHeight * level);
        int w = static_cast<int>(n % kTileWidth);
        if (w > 0) {
            keep.insert(tile_path(std::to_string(level), n / kTileWidth, w));
            if (level == 0)
                keep.insert(tile_path("entries", n / kTileWidth, w));
        }
    }
    long removed = 0;
    int fd = openat(out.dir_fd, "tile", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (d == nullptr) {
        close(fd);
        return 0;
    }
    std::vector<std::string> levels;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            levels.push_back(e->d_name);
    closedir(d);
    for (const auto &l : levels)
        removed += remove_superseded(out, "tile/" + l, now, grace, keep);
    return removed;
}

// ---- Witnesses (C2SP tlog-witness, the client side) ---------------------------------------------

struct WitnessSpec {
    std::string spec;   // as given
    wp::Vkey vkey;      // type 0x04
    std::string vkey_text;
    std::string url;    // the submission prefix, without a trailing '/'
};

// "NAME+KEYHASH+KEY=URL": the vkey ends where "=http://" or "=https://" starts (a 33-byte key's
// base64 has no '=' padding, but look for the scheme to be sure).
WitnessSpec parse_witness(const std::string &spec, core::Hasher &h)
{
    WitnessSpec w;
    w.spec = spec;
    std::size_t eq = spec.find("=https://");
    if (eq == std::string::npos)
        eq = spec.find("=http://");
    if (eq == std::string::npos)
        fail(kExitBadInput, "--witness %s: not NAME+KEYHASH+KEY=URL (the URL starting with http:// or https://)",
             spec.c_str());
    w.vkey_text = spec.substr(0, eq);
    w.url = spec.substr(eq + 1);
    while (!w.url.empty() && w.url.back() == '/')
        w.url.pop_back();
    if (const char *why = wp::parse_vkey(w.vkey_text, &w.vkey, h))
        fail(kExitBadInput, "--witness %s: %s", spec.c_str(), why);
    if (w.vkey.type != wp::kTypeCosignatureV1)
        fail(kExitBadInput, "--witness %s: a witness's key has type 0x04 (cosignature/v1), this one 0x%02x",
             spec.c_str(), w.vkey.type);
    return w;
}

// The size each witness last cosigned, by "name+keyhash": DIR/.witnesses, "<size> <name>+<keyhash>"
// per line.  Public like the rest of DIR (it says no more than the published checkpoints do).
const char kWitnessStateFile[] = ".witnesses";

std::string witness_key(const WitnessSpec &w)
{
    char id[9];
    std::snprintf(id, sizeof id, "%08x", w.vkey.key_id);
    return w.vkey.name + "+" + id;
}

std::map<std::string, int64_t> read_witness_state(const Out &out)
{
    std::map<std::string, int64_t> m;
    std::string text;
    if (!read_file(out, kWitnessStateFile, &text))
        return m;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string::npos)
            break;
        std::string line = text.substr(pos, nl - pos);
        pos = nl + 1;
        size_t sp = line.find(' ');
        char *end = nullptr;
        long long n = sp == std::string::npos ? -1 : std::strtoll(line.c_str(), &end, 10);
        if (sp == std::string::npos || end != line.c_str() + sp || n < 0)
            continue;  // damaged: a 409 tells the size again
        m[line.substr(sp + 1)] = n;
    }
    return m;
}

void write_witness_state(Out &out, const std::map<std::string, int64_t> &m)
{
    std::string text;
    for (const auto &kv : m)
        text += std::to_string(kv.second) + " " + kv.first + "\n";
    write_atomically(out, kWitnessStateFile, text.data(), text.size(), true);
}

// The consistency proof between two sizes of the database's tree (forgea_audit.consistency_proof).
std::vector<std::array<uint8_t, kHashLen>> consistency(PGconn *db, int64_t old_size, int64_t size)
{
    std::vector<std::array<uint8_t, kHashLen>> proof;
    if (old_size <= 0 || old_size >= size)
        return proof;
    PGresult *r = query(db, "SELECT p FROM unnest(forgea_audit.consistency_proof($1::bigint, $2::bigint)) "
                            "WITH ORDINALITY AS t(p, i) ORDER BY i",
                        {std::to_string(old_size), std::to_string(size)});
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetisnull(r, i, 0) || PQgetlength(r, i, 0) != kHashBytes)
            fail(kExitRefused, "consistency_proof(%" PRId64 ", %" PRId64 ") returned a hash that is not 32 bytes",
                 old_size, size);
        std::array<uint8_t, kHashLen> a;
        std::memcpy(a.data(), PQgetvalue(r, i, 0), kHashLen);
        proof.push_back(a);
    }
    PQclear(r);
    return proof;
}

size_t curl_collect(char *data, size_t size, size_t n, void *user)
{
    auto *s = static_cast<std::string *>(user);
    if (s->size() + size * n > wp::kMaxRequestBody)
        return 0;  // a witness's answer is a few lines: more is refused (the transfer fails)
    s->append(data, size * n);
    return size * n;
}

struct HttpAnswer {
    bool reached = false;
    std::string error;  // transport error when !reached
    long status = 0;
    std::string body;
};

HttpAnswer post(CURL *curl, const std::string &url, const std::string &body, long timeout, const std::string &cacert)
{
    HttpAnswer a;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_slist *headers = nullptr;
    headers = curl_slist_append(headers, "Content-Type: text/plain; charset=utf-8");
    headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, std::min(timeout, 10L));
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "forgea_audit_publish");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a.body);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!cacert.empty())
        curl_easy_setopt(curl, CURLOPT_CAINFO, cacert.c_str());
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK) {
        a.error = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
        return a;
    }
    a.reached = true;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.status);
    return a;
}

// What one witness said about the checkpoint.
struct WitnessAnswer {
    std::string answer;  // cosigned | conflict | refused | invalid | unreachable
    long status = 0;     // the last HTTP status (0: none)
    int64_t old_size = 0;
    std::string detail;
    std::string lines;   // cosigned: the verified cosignature line(s)
};

// The first line of a body, printable, at most 200 bytes: for messages.
std::string first_line(const std::string &body)
{
    std::string s = body.substr(0, body.find('\n'));
    if (s.size() > 200)
        s = s.substr(0, 200) + "...";
    for (char &c : s)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
            c = '?';
    return s;
}

std::string status_text(long status)
{
    switch (status) {
    case 400: return "400 Bad Request";
    case 403: return "403 Forbidden (the witness does not trust the log's key)";
    case 404: return "404 Not Found (the witness does not know the log's origin)";
    case 409: return "409 Conflict";
    case 422: return "422 Unprocessable Entity (the consistency proof does not verify: not an extension)";
    default: return std::to_string(status);
    }
}

// add-checkpoint to one witness: from the size it last cosigned, retried from the size a 409 names
// (twice at most), until it cosigns or refuses.
WitnessAnswer ask_witness(CURL *curl, PGconn *db, const WitnessSpec &w, int64_t &known, const std::string &note,
                          core::Bytes text_signed, int64_t size, long timeout, const std::string &cacert)
{
    WitnessAnswer a;
    for (int attempt = 0; attempt < 3; attempt++) {
        a.old_size = known;
        if (known > size) {
            a.answer = "conflict";
            a.detail = "the witness has cosigned a checkpoint of " + std::to_string(known) +
                       " leaves, more than this one's " + std::to_string(size) +
                       ": the database's log is behind or forked from what it saw";
            return a;
        }
        auto proof = consistency(db, known, size);
        std::string body = wp::format_add_checkpoint(known, reinterpret_cast<const uint8_t(*)[kHashLen]>(proof.data()),
                                                     static_cast<int>(proof.size()), note);
        HttpAnswer r = post(curl, w.url + "/add-checkpoint", body, timeout, cacert);
        if (!r.reached) {
            a.answer = "unreachable";
            a.detail = r.error;
            return a;
        }
        a.status = r.status;
        if (r.status == 200) {
            wp::CosignatureCheck c;
            if (!wp::check_cosignatures(r.body.data(), r.body.size(), text_signed, w.vkey, &c)) {
                a.answer = "invalid";
                a.detail = "200, but the body is not signature lines: " + first_line(r.body);
            } else if (c.valid == 0) {
                a.answer = "invalid";
                a.detail = "200, but no cosignature by this witness's key verifies (" + std::to_string(c.invalid) +
                           " by its name and key id did not)";
            } else {
                a.answer = "cosigned";
                a.detail = (a.detail.empty() ? "" : a.detail + "; ") + "cosigned from " + std::to_string(known) +
                           " at " + std::to_string(c.timestamp);
                a.lines = c.lines;
                known = size;
            }
            return a;
        }
        if (r.status == 409) {
            int64_t n = -1;
            std::string b = r.body;
            char *end = nullptr;
            if (!b.empty() && b.back() == '\n' && b[0] >= '0' && b[0] <= '9')
                n = std::strtoll(b.c_str(), &end, 10);
            if (n < 0 || end != b.c_str() + b.size() - 1) {
                a.answer = "refused";
                a.detail = "409 Conflict without a size in its body: " + first_line(r.body);
                return a;
            }
            if (n == known) {
                a.answer = "conflict";
                a.detail = "409 Conflict: the witness cosigned another checkpoint of " + std::to_string(n) +
                           " leaves (another root: the log forked)";
                return a;
            }
            a.detail = "409 Conflict: it last cosigned " + std::to_string(n) + ", not " + std::to_string(known);
            known = n;  // retry from there
            continue;
        }
        a.answer = "refused";
        a.detail = status_text(r.status) + ": " + first_line(r.body);
        return a;
    }
    a.answer = "conflict";
    a.detail += " (still 409 after retrying)";
    return a;
}

std::string json_string(const std::string &s)
{
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            o += '\\';
            o += static_cast<char>(c);
        } else if (c < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
        } else {
            o += static_cast<char>(c);
        }
    }
    return o + "\"";
}

[[noreturn]] void usage()
{
    std::fputs("usage: forgea_audit_publish --out DIR [--grace SECONDS] [--witness VKEY=URL ... [--quorum K]]\n"
               "                            [--witness-timeout SECONDS] [--witness-cacert FILE] [--interval SECONDS]\n"
               "                            [CONNINFO]\n"
               "  Writes the newest checkpoint of the forgea_audit log and its C2SP tlog-tiles tiles and\n"
               "  entry bundles under DIR.  CONNINFO is a libpq connection string or URI (default: the\n"
               "  PG* environment); the role needs forgea_audit_admin (it reads every audit row's row_hash).\n"
               "  --grace: partial tiles an older checkpoint needed are removed this long after they were\n"
               "  superseded (default 3600 seconds).\n"
               "  --witness NAME+KEYHASH+KEY=URL: a C2SP witness (its cosignature/v1 verifier key and its\n"
               "  submission prefix; the request goes to URL/add-checkpoint), repeatable; --quorum K: how many\n"
               "  must cosign before the checkpoint is published (default: all of them); --witness-timeout:\n"
               "  per request (default 10 s); --witness-cacert: CA certificates (PEM) to check HTTPS witnesses\n"
               "  with instead of the system's.  Exit 3: fewer than K cosigned, the previous checkpoint stays.\n"
               "  --interval SECONDS: keep running, one connection, a run every SECONDS (no line when nothing is\n"
               "  new; a missed quorum is retried; a refusal or a database or directory error ends it with its\n"
               "  exit code, 1 or 2, as a single run would: run it under a supervisor that restarts it;\n"
               "  SIGTERM ends it between two runs).\n",
               stderr);
    std::exit(kExitBadInput);
}

// What a run publishes with: the command line, once parsed.
struct Options {
    std::string dir;
    long grace = 3600;
    long witness_timeout = 10;
    int quorum = -1;
    std::vector<WitnessSpec> witnesses;
    std::string cacert;
    bool quiet_idle = false;  // --interval: no line for a run with nothing new
};

// One publication (the whole of a run without --interval): the newest checkpoint, checked, its
// tiles, the witnesses, the checkpoint file, the record in the database.  Returns the exit code
// (0, or 3 for a missed quorum); a refusal or an unusable database or directory exits (1, 2).
int publish_once(PGconn *db, Out &out, const Options &o)
{
    // One snapshot for the checkpoint, the tiles and the rows.
    PQclear(query(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}));
    PGresult *cp = query(db, "SELECT tree_size, note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1", {});
    if (PQntuples(cp) == 0) {
        if (!o.quiet_idle)
            std::printf("no checkpoint yet: nothing to publish\n");
        PQclear(cp);
        return 0;
    }
    int64_t size = int8_at(cp, 0, 0);
    std::string note(PQgetvalue(cp, 0, 1), static_cast<size_t>(PQgetlength(cp, 0, 1)));
    PQclear(cp);
    core::ParsedCheckpoint parsed;
    if (const char *why = core::parse_checkpoint(note.data(), note.size(), &parsed))
        fail(kExitRefused, "the newest checkpoint is malformed: %s", why);
    if (!parsed.body.tree || parsed.body.size != size)
        fail(kExitRefused, "the newest checkpoint is not a transparency-log note of %" PRId64 " leaves", size);

    // What is published now, if anything.
    int64_t old_size = 0;
    std::string old_note;
    bool have_old = read_file(out, "checkpoint", &old_note);
    core::Sha256 h;
    time_t now = std::time(nullptr);
    // Published already: the file is the note, plus the cosignature lines it was published with.
    if (have_old && old_note.size() >= note.size() && old_note.compare(0, note.size(), note) == 0) {
        long removed = remove_superseded_all(out, size, now, o.grace);
        if (!o.quiet_idle || removed > 0)
            std::printf("nothing new: the checkpoint of %" PRId64 " leaves is published%s\n", size,
                        removed > 0 ? (", " + std::to_string(removed) + " superseded partial tiles removed").c_str() : "");
        return 0;
    }
    if (have_old) {
        core::ParsedCheckpoint op;
        if (const char *why = core::parse_checkpoint(old_note.data(), old_note.size(), &op))
            fail(kExitRefused, "%s/checkpoint is not a checkpoint (%s): nothing was written", o.dir.c_str(), why);
        if (!op.body.tree)
            fail(kExitRefused, "%s/checkpoint is not a transparency-log checkpoint: nothing was written", o.dir.c_str());
        old_size = op.body.size;
        if (old_size > size)
            fail(kExitRefused, "%s/checkpoint has %" PRId64 " leaves, the database's newest only %" PRId64
                 ": not the same log, or the database went back in time; nothing was written",
                 o.dir.c_str(), old_size, size);
        uint8_t old_root[kHashLen];
        root_from_tiles(db, old_size, h, old_root);
        if (std::memcmp(old_root, op.body.root, kHashLen) != 0)
            fail(kExitRefused, "the database's tree of %" PRId64 " leaves does not have the root of the published "
                 "checkpoint of that size: the database does not extend the published log; nothing was written",
                 old_size);
    }
    uint8_t root[kHashLen];
    root_from_tiles(db, size, h, root);
    if (std::memcmp(root, parsed.body.root, kHashLen) != 0)
        fail(kExitRefused, "the root computed from merkle_tile is not the newest checkpoint's: nothing was written");

    // Tiles first (levels while the tree has nodes there), flushed, then the checkpoint.
    for (int level = 0; (size >> (merkle::kTileHeight * level)) > 0; level++) {
        LevelRange lr = level_range(level, old_size, size);
        if (lr.full_end > lr.first || lr.partial_width > 0)
            publish_level(db, out, level, lr, h);
    }
    PQclear(query(db, "COMMIT", {}));
    sync_written(out);

    // Witnesses: each is asked for a cosignature of the note; the valid ones are appended.
    std::vector<WitnessAnswer> answers;
    std::string cosignatures;
    int cosigned = 0;
    if (!o.witnesses.empty()) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            fail(kExitBadInput, "libcurl could not be initialised");
        CURL *curl = curl_easy_init();
        if (curl == nullptr)
            fail(kExitBadInput, "libcurl could not be initialised");
        auto known = read_witness_state(out);
        for (const WitnessSpec &w : o.witnesses) {
            int64_t &k = known[witness_key(w)];
            WitnessAnswer a = ask_witness(curl, db, w, k, note, parsed.text_signed, size, o.witness_timeout, o.cacert);
            if (a.answer == "cosigned") {
                cosigned++;
                cosignatures += a.lines;
            }
            std::fprintf(stderr, "witness %s (%s): %s%s%s\n", w.vkey.name.c_str(), w.url.c_str(), a.answer.c_str(),
                         a.detail.empty() ? "" : ": ", a.detail.c_str());
            answers.push_back(a);
        }
        write_witness_state(out, known);
        curl_easy_cleanup(curl);
        curl_global_cleanup();
    }
    bool quorum_met = cosigned >= o.quorum;
    std::string published = note;
    if (!cosignatures.empty() && parsed.signature_count == 0)
        published += "\n";  // an unsigned note gains the blank line before its first signature line
    published += cosignatures;
    if (quorum_met)
        write_atomically(out, "checkpoint", published.data(), published.size(), true);

    // The publication (or the missed o.quorum) in the database: forgea_audit.published_checkpoint.
    int record_rc = 0;
    PGresult *has = query(db, "SELECT to_regprocedure('forgea_audit.record_publication(text,boolean,integer,jsonb)') "
                              "IS NOT NULL", {});
    bool can_record = PQntuples(has) == 1 && PQgetlength(has, 0, 0) == 1 && PQgetvalue(has, 0, 0)[0] == 1;
    PQclear(has);
    if (can_record) {
        std::string json = "[";
        for (size_t i = 0; i < o.witnesses.size(); i++) {
            const WitnessAnswer &a = answers[i];
            json += (i > 0 ? "," : "");
            json += "{\"name\":" + json_string(o.witnesses[i].vkey.name) + ",\"vkey\":" + json_string(o.witnesses[i].vkey_text) +
                    ",\"url\":" + json_string(o.witnesses[i].url) + ",\"answer\":" + json_string(a.answer) +
                    ",\"status\":" + (a.status > 0 ? std::to_string(a.status) : std::string("null")) +
                    ",\"old_size\":" + std::to_string(a.old_size) + ",\"detail\":" + json_string(a.detail) + "}";
        }
        json += "]";
        PGresult *r = PQexecParams(db, "SELECT forgea_audit.record_publication($1, $2::boolean, $3::integer, $4::jsonb)", 4,
                                   nullptr,
                                   std::vector<const char *>{published.c_str(), quorum_met ? "true" : "false",
                                                             std::to_string(o.quorum).c_str(), json.c_str()}
                                       .data(),
                                   nullptr, nullptr, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            std::fprintf(stderr, "forgea_audit_publish: could not record the publication in the database: %s",
                         PQerrorMessage(db));
            record_rc = kExitBadInput;
        }
        PQclear(r);
    } else {
        std::fprintf(stderr, "forgea_audit_publish: note: the database's forgea_audit has no record_publication() "
                             "(before 0.3.0): the publication is not recorded there\n");
    }
    if (!quorum_met) {
        std::fprintf(stderr, "forgea_audit_publish: the checkpoint of %" PRId64 " leaves is NOT published: %d of %zu "
                     "witnesses cosigned, the quorum is %d; the previous checkpoint (%" PRId64 " leaves) stays\n",
                     size, cosigned, o.witnesses.size(), o.quorum, old_size);
        return kExitQuorumMissed;
    }
    long removed = remove_superseded_all(out, size, now, o.grace);
    std::printf("published the checkpoint of %" PRId64 " leaves (from %" PRId64 "): %ld files written, %ld already "
                "there and equal, %ld superseded partial tiles removed%s\n",
                size, old_size, out.files_written, out.files_checked, removed,
                o.witnesses.empty() ? "" : (", " + std::to_string(cosigned) + " of " + std::to_string(o.witnesses.size()) +
                                          " witnesses cosigned (quorum " + std::to_string(o.quorum) + ")").c_str());
    return record_rc;
}

// --interval: set by SIGTERM / SIGINT, read between two runs.
volatile std::sig_atomic_t stop_requested = 0;
void on_stop_signal(int) { stop_requested = 1; }

}  // namespace

int main(int argc, char **argv)
{
    Options o;
    std::string conninfo;
    long interval = 0;
    std::vector<std::string> witness_specs;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--out" && i + 1 < argc)
            o.dir = argv[++i];
        else if (a == "--witness" && i + 1 < argc)
            witness_specs.push_back(argv[++i]);
        else if (a == "--witness-cacert" && i + 1 < argc)
            o.cacert = argv[++i];
        else if ((a == "--quorum" || a == "--witness-timeout") && i + 1 < argc) {
            char *end = nullptr;
            long v = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 0 || v > 3600 || (a == "--witness-timeout" && v == 0))
                usage();
            (a == "--quorum" ? o.quorum = static_cast<int>(v) : (o.witness_timeout = v, 0));
        }
        else if (a == "--grace" && i + 1 < argc) {
            char *end = nullptr;
            o.grace = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || o.grace < 0)
                usage();
        } else if (a == "--interval" && i + 1 < argc) {
            char *end = nullptr;
            interval = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || interval < 1 || interval > 86400)
                usage();
        } else if (a == "--help" || a == "-h" || (a.size() > 1 && a[0] == '-'))
            usage();
        else if (conninfo.empty())
            conninfo = a;
        else
            usage();
    }
    if (o.dir.empty())
        usage();
    {
        core::Sha256 h0;
        for (const auto &spec : witness_specs)
            o.witnesses.push_back(parse_witness(spec, h0));
    }
    if (o.quorum < 0)
        o.quorum = static_cast<int>(o.witnesses.size());
    if (o.quorum > static_cast<int>(o.witnesses.size()))
        fail(kExitBadInput, "--quorum %d: only %zu witnesses given", o.quorum, o.witnesses.size());

    Out out;
    out.dir = o.dir;
    if (mkdir(o.dir.c_str(), 0755) != 0 && errno != EEXIST)
        fail(kExitBadInput, "cannot create %s: %s", o.dir.c_str(), std::strerror(errno));
    out.dir_fd = open(o.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out.dir_fd < 0)
        fail(kExitBadInput, "cannot open %s: %s", o.dir.c_str(), std::strerror(errno));

    PGconn *db = PQconnectdb(conninfo.c_str());
    if (PQstatus(db) != CONNECTION_OK)
        fail(kExitBadInput, "cannot connect: %s", PQerrorMessage(db));
    if (interval == 0) {
        int rc = publish_once(db, out, o);
        PQfinish(db);
        return rc;
    }
    // --interval: one process and one connection, a run every `interval` seconds (a run that
    // takes longer is followed by the next at once).  SIGTERM or SIGINT end it between two runs.
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    o.quiet_idle = true;
    while (!stop_requested) {
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (PQstatus(db) != CONNECTION_OK) {
            PQreset(db);
            if (PQstatus(db) != CONNECTION_OK)
                std::fprintf(stderr, "forgea_audit_publish: cannot connect (retrying in %ld s): %s", interval,
                             PQerrorMessage(db));
        }
        if (PQstatus(db) == CONNECTION_OK) {
            out.dirs_known.clear();  // remove_superseded may have removed .p directories since
            out.dirs_made.clear();
            out.files_written = out.files_checked = 0;
            (void) publish_once(db, out, o);  // a missed quorum (3) is retried at the next interval
            if (PQtransactionStatus(db) != PQTRANS_IDLE)
                PQclear(PQexec(db, "ROLLBACK"));
        }
        std::fflush(stdout);
        struct timespec next = start;
        next.tv_sec += interval;
        while (!stop_requested && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, nullptr) == EINTR) {
        }
    }
    PQfinish(db);
    return 0;
}
