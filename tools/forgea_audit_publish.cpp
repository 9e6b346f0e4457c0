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
// Pure core (src/core: note parsing, base64, the RFC 6962 fold) + libpq + OpenSSL's SHA-256.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
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

#include <libpq-fe.h>
#include <openssl/evp.h>

#include "core/base64.hpp"
#include "core/checkpoint_note.hpp"
#include "core/hasher.hpp"
#include "core/merkle_tree.hpp"

namespace core = forgea::core;
namespace merkle = forgea::core::merkle;
using core::kHashLen;

namespace {

constexpr int kExitRefused = 1;
constexpr int kExitBadInput = 2;
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

// ---- SHA-256 through OpenSSL ----------------------------------------------------------------

class OpensslSha256 final : public core::Hasher {
public:
    OpensslSha256() : ctx_(EVP_MD_CTX_new())
    {
        if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
            fail(kExitBadInput, "OpenSSL: could not set up SHA-256");
    }
    ~OpensslSha256() { EVP_MD_CTX_free(ctx_); }
    OpensslSha256(const OpensslSha256 &) = delete;
    OpensslSha256 &operator=(const OpensslSha256 &) = delete;

    void put(const void *data, std::size_t len) override
    {
        if (len > 0 && EVP_DigestUpdate(ctx_, data, len) != 1)
            fail(kExitBadInput, "OpenSSL: SHA-256 update failed");
    }

    void finish(std::uint8_t out[kHashLen]) override
    {
        unsigned int n = 0;
        if (EVP_DigestFinal_ex(ctx_, out, &n) != 1 || n != kHashLen ||
            EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
            fail(kExitBadInput, "OpenSSL: SHA-256 finish failed");
    }

private:
    EVP_MD_CTX *ctx_;
};

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
};

// mkdir -p of the directories above rel (relative to the output directory).
void make_parents(const Out &out, const std::string &rel)
{
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
        std::string d = rel.substr(0, slash);
        if (mkdirat(out.dir_fd, d.c_str(), 0755) != 0 && errno != EEXIST)
            fail(kExitBadInput, "cannot create %s/%s: %s", out.dir.c_str(), d.c_str(), std::strerror(errno));
    }
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
    out.files_written++;
}

// Publishes one tile (or bundle): a new file is written; an existing one must hold exactly this
// content (a full tile never changes; a partial tile of a given width is the same for every
// checkpoint that needs it), else the published log and the database disagree: refused.
void put_tile(Out &out, const std::string &rel, const std::string &content)
{
    std::string existing;
    if (read_file(out, rel, &existing)) {
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

// The hashes of the level-8L nodes [first, first + count) (count <= 256, all in one tile), from
// merkle_tile's hashes column.
std::string tile_slice(PGconn *db, int level, int64_t first, int count)
{
    int64_t tile = first / kTileWidth;
    int64_t offset = first % kTileWidth;
    PGresult *r = query(db,
                        "SELECT substring(hashes FROM $3::int * 32 + 1 FOR $4::int * 32) FROM forgea_audit.merkle_tile "
                        "WHERE level = $1::smallint AND idx = $2::bigint",
                        {std::to_string(level), std::to_string(tile), std::to_string(offset), std::to_string(count)});
    if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0) || PQgetlength(r, 0, 0) != count * kHashBytes)
        fail(kExitRefused, "merkle_tile (%d, %" PRId64 ") does not hold the hashes %" PRId64 "..%" PRId64
             " the checkpoint needs", level, tile, offset, offset + count - 1);
    std::string s(PQgetvalue(r, 0, 0), static_cast<size_t>(count) * kHashLen);
    PQclear(r);
    return s;
}

// The RFC 6962 root of the first `size` leaves, from the stored tiles only: each complete subtree
// of range_nodes(0, size) of height 8L + r is the fold of 2^r consecutive hashes of a level-L
// tile (r < 8), so at most 63 slices of at most 128 hashes are read and folded.
void root_from_tiles(PGconn *db, int64_t size, core::Hasher &h, uint8_t root[kHashLen])
{
    if (size == 0) {
        merkle::empty_root(h, root);
        return;
    }
    merkle::NodeId nodes[merkle::kMaxLevels];
    int count = merkle::range_nodes(0, size, nodes);
    std::vector<uint8_t> hashes(static_cast<size_t>(count) * kHashLen);
    for (int i = 0; i < count; i++) {
        int level = nodes[i].level / merkle::kTileHeight;
        int r = nodes[i].level % merkle::kTileHeight;
        int width = 1 << r;
        std::string slice = tile_slice(db, level, nodes[i].index << r, width);
        std::vector<uint8_t> row(slice.begin(), slice.end());
        for (; width > 1; width /= 2)
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
        PGresult *entries = nullptr;
        if (level == 0) {
            int64_t leaf_end = std::min(hi * kTileWidth, lr.full_end * kTileWidth + lr.partial_width);
            entries = query(db,
                            "SELECT a.row_hash FROM forgea_audit.merkle_leaf m JOIN forgea_audit.audit_log a ON a.seq = m.seq "
                            "WHERE m.leaf_index >= $1::bigint AND m.leaf_index < $2::bigint ORDER BY m.leaf_index",
                            {std::to_string(lo * kTileWidth), std::to_string(leaf_end)});
            if (PQntuples(entries) != leaf_end - lo * kTileWidth)
                fail(kExitRefused, "the leaves %" PRId64 "..%" PRId64 " have %d audit rows (run as forgea_audit_admin: "
                     "a reader sees only its tenant's rows)", lo * kTileWidth, leaf_end - 1, PQntuples(entries));
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
                    int e = row * kTileWidth + i;
                    if (PQgetisnull(entries, e, 0) || PQgetlength(entries, e, 0) != kHashBytes)
                        fail(kExitRefused, "leaf %" PRId64 "'s row_hash is not 32 bytes", t * kTileWidth + i);
                    const char *rh = PQgetvalue(entries, e, 0);
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
        if (entries != nullptr)
            PQclear(entries);
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

[[noreturn]] void usage()
{
    std::fputs("usage: forgea_audit_publish --out DIR [--grace SECONDS] [CONNINFO]\n"
               "  Writes the newest checkpoint of the forgea_audit log and its C2SP tlog-tiles tiles and\n"
               "  entry bundles under DIR.  CONNINFO is a libpq connection string or URI (default: the\n"
               "  PG* environment); the role needs forgea_audit_admin (it reads every audit row's row_hash).\n"
               "  --grace: partial tiles an older checkpoint needed are removed this long after they were\n"
               "  superseded (default 3600 seconds).\n",
               stderr);
    std::exit(kExitBadInput);
}

}  // namespace

int main(int argc, char **argv)
{
    std::string dir, conninfo;
    long grace = 3600;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--out" && i + 1 < argc)
            dir = argv[++i];
        else if (a == "--grace" && i + 1 < argc) {
            char *end = nullptr;
            grace = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || grace < 0)
                usage();
        } else if (a == "--help" || a == "-h" || (a.size() > 1 && a[0] == '-'))
            usage();
        else if (conninfo.empty())
            conninfo = a;
        else
            usage();
    }
    if (dir.empty())
        usage();

    Out out;
    out.dir = dir;
    if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
        fail(kExitBadInput, "cannot create %s: %s", dir.c_str(), std::strerror(errno));
    out.dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (out.dir_fd < 0)
        fail(kExitBadInput, "cannot open %s: %s", dir.c_str(), std::strerror(errno));

    PGconn *db = PQconnectdb(conninfo.c_str());
    if (PQstatus(db) != CONNECTION_OK)
        fail(kExitBadInput, "cannot connect: %s", PQerrorMessage(db));
    // One snapshot for the checkpoint, the tiles and the rows.
    PQclear(query(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", {}));
    PGresult *cp = query(db, "SELECT tree_size, note FROM forgea_audit.merkle_checkpoint ORDER BY id DESC LIMIT 1", {});
    if (PQntuples(cp) == 0) {
        std::printf("no checkpoint yet: nothing to publish\n");
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
    OpensslSha256 h;
    time_t now = std::time(nullptr);
    if (have_old && old_note == note) {
        long removed = remove_superseded_all(out, size, now, grace);
        std::printf("nothing new: the checkpoint of %" PRId64 " leaves is published%s\n", size,
                    removed > 0 ? (", " + std::to_string(removed) + " superseded partial tiles removed").c_str() : "");
        return 0;
    }
    if (have_old) {
        core::ParsedCheckpoint op;
        if (const char *why = core::parse_checkpoint(old_note.data(), old_note.size(), &op))
            fail(kExitRefused, "%s/checkpoint is not a checkpoint (%s): nothing was written", dir.c_str(), why);
        if (!op.body.tree)
            fail(kExitRefused, "%s/checkpoint is not a transparency-log checkpoint: nothing was written", dir.c_str());
        old_size = op.body.size;
        if (old_size > size)
            fail(kExitRefused, "%s/checkpoint has %" PRId64 " leaves, the database's newest only %" PRId64
                 ": not the same log, or the database went back in time; nothing was written",
                 dir.c_str(), old_size, size);
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
    PQfinish(db);
    if (syncfs(out.dir_fd) != 0)
        fail(kExitBadInput, "cannot flush %s: %s", dir.c_str(), std::strerror(errno));
    write_atomically(out, "checkpoint", note.data(), note.size(), true);
    long removed = remove_superseded_all(out, size, now, grace);
    std::printf("published the checkpoint of %" PRId64 " leaves (from %" PRId64 "): %ld files written, %ld already "
                "there and equal, %ld superseded partial tiles removed\n",
                size, old_size, out.files_written, out.files_checked, removed);
    return 0;
}
