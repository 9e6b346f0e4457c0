// Walking the chains (docs/chain.md, section 4): the checks verify_chain() and the offline
// verifier both make, written once.  A row is checked in two steps: its content against its own
// row_hash (check_row_content, needs nothing but the row), then its link to the row before it in
// its chain (ChainWalker::link_row, needs the rows of a chain in chain_pos order).  The offline
// verifier reads rows already in that order; verify_chain() reads the heap in physical order and
// lets ChainInOrder (chain_reorder.hpp) put each chain's rows back in order.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstddef>
#include <cstdint>

#include "chain_record.hpp"
#include "hasher.hpp"

namespace forgea::core {

enum class Problem {
    UnknownVersion,       // hash_version is not one this code knows
    PositionGap,          // chain_pos is not the previous + 1 (rows removed before this one)
    BrokenLink,           // prev_hash is not the previous row's row_hash (or genesis)
    SeqNotIncreasing,     // seq does not grow along the chain
    ContentChanged,       // row_hash is not SHA-256 of the row's encoding
    HeadMissing,          // rows but no chain_head row
    HeadMismatch,         // chain_head disagrees with the chain's last row
    ChainRemoved,         // a chain_head with no rows at all
    CheckpointRowMissing, // a checkpoint names a chain position that is no longer there
    CheckpointMismatch,   // ... or is there with another hash or seq
};

struct ProblemReport {
    Problem kind;
    std::int64_t seq;       // where: the first bad seq this problem implies
    Bytes chain_id;
    std::int64_t chain_pos; // where in the chain (0 if not one row)
    std::int64_t expected;  // what should have been there (position, length or seq)
    std::int64_t actual;    // what was there
};

class ProblemSink {
public:
    virtual void report(const ProblemReport &p) = 0;

protected:
    ~ProblemSink() = default;
};

// A human sentence for a problem, NUL-terminated in buf; returns its length.
std::size_t describe_problem(const ProblemReport &p, char *buf, std::size_t cap);

// A chain head as chain_head stores it (or a checkpoint lists it).
struct HeadRecord {
    Bytes chain_id;
    std::int64_t length = 0;
    std::int64_t last_seq = 0;
    std::uint8_t last_hash[kHashLen] = {};
};

// What the link checks need of a row, its content already checked: about 100 bytes, so rows that
// arrive out of order can wait without their text.
struct RowLink {
    std::int64_t seq = 0;
    std::int64_t chain_pos = 0;
    int hash_version = 0;
    bool prev_ok = false;     // prev_hash is kHashLen bytes
    bool stored_ok = false;   // row_hash is kHashLen bytes
    bool content_ok = false;  // row_hash is SHA-256 of the row's encoding
    std::uint8_t prev_hash[kHashLen] = {};
    std::uint8_t hash[kHashLen] = {};  // row_hash as stored if stored_ok, else as computed
};

// Hashes r's encoding and compares it with the stored row_hash.
RowLink check_row_content(const AuditRecord &r, const std::uint8_t *stored_hash, std::size_t stored_len,
                          int hash_version, Hasher &hasher);

// check_row_content in two steps, for a caller that hashes the encodings itself (verify_chain()
// hashes two rows at a time, core/sha256.hpp's sha256_pair): the link's fields from the row, then
// the computed hash against the stored row_hash.  check_row_content is these two around the hash.
RowLink row_link_of(const AuditRecord &r, int hash_version);
void settle_row_content(RowLink &l, const std::uint8_t computed[kHashLen], const std::uint8_t *stored_hash,
                        std::size_t stored_len);

// The state of one chain walk.  Plain data: safe to keep across PostgreSQL calls.
class ChainWalker {
public:
    // The next rows belong to chain_id (the bytes must stay valid until the chain ends).  sealed,
    // if not null, is this chain's head as a checkpoint recorded it: the row at that position must
    // still be there, unchanged.
    void start_chain(Bytes chain_id, const HeadRecord *sealed = nullptr);

    // The next rows belong to chain_id and follow a row already checked: the one at last_pos with
    // last_seq and last_hash (its stored row_hash).  How the incremental verification checks a new
    // row against the row before it without walking the chain from its start.
    void resume_chain(Bytes chain_id, std::int64_t last_pos, std::int64_t last_seq,
                      const std::uint8_t last_hash[kHashLen]);

    // Checks one row; stored_hash is the row's row_hash column.  The same as
    // link_row(check_row_content(...)).
    void check_row(const AuditRecord &r, const std::uint8_t *stored_hash, std::size_t stored_len, int hash_version,
                   Hasher &hasher, ProblemSink &sink);

    // Links the chain's next row (in chain_pos order), reporting what is wrong with it.
    void link_row(const RowLink &row, ProblemSink &sink);

    // Ends the chain, comparing its tail with its head (nullptr: no head row exists).
    void end_chain(const HeadRecord *head, ProblemSink &sink);

    bool in_chain() const { return in_chain_; }
    std::int64_t next_pos() const { return last_pos_ + 1; }
    std::int64_t rows() const { return rows_; }
    std::int64_t chains() const { return chains_; }

private:
    Bytes chain_id_;
    const HeadRecord *sealed_ = nullptr;
    bool in_chain_ = false;
    std::int64_t last_pos_ = 0;
    std::int64_t last_seq_ = 0;
    std::uint8_t last_hash_[kHashLen] = {};
    std::int64_t rows_ = 0;
    std::int64_t chains_ = 0;
};

// A head no chain walk ended at: the whole chain is gone.
void report_chain_removed(const HeadRecord &head, ProblemSink &sink);

// A chain a checkpoint sealed that has no rows left at all.
void report_sealed_chain_missing(const HeadRecord &sealed, ProblemSink &sink);

// Keeps the lowest-seq problem (described at once: the chain id it points to may not outlive the
// report) and a count.  The one sink both verifiers use.
class FirstProblem final : public ProblemSink {
public:
    void report(const ProblemReport &p) override
    {
        if (count_ == 0 || p.seq < first_seq_) {
            first_seq_ = p.seq;
            describe_problem(p, first_text_, sizeof first_text_);
        }
        count_++;
    }
    std::int64_t count() const { return count_; }
    std::int64_t first_seq() const { return first_seq_; }
    const char *first_text() const { return first_text_; }

private:
    std::int64_t count_ = 0;
    std::int64_t first_seq_ = 0;
    char first_text_[1024] = {};
};

// Orders chain ids as the scans do: bytewise, a prefix first.
int compare_chain_ids(Bytes a, Bytes b);

}  // namespace forgea::core
