#include "chain_verifier.hpp"

#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace forgea::core {

// Bytewise, shorter first on a common prefix: the order of ORDER BY chain_id COLLATE "C", which
// the heads and the checkpoint root are sorted in.
int compare_chain_ids(Bytes a, Bytes b)
{
    std::size_t n = a.len < b.len ? a.len : b.len;
    int c = n == 0 ? 0 : std::memcmp(a.data, b.data, n);
    if (c != 0)
        return c;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

// A new chain: the first row must link to the all-zero genesis hash at position 1.
void ChainWalker::start_chain(Bytes chain_id, const HeadRecord *sealed)
{
    chain_id_ = chain_id;
    sealed_ = sealed;
    in_chain_ = true;
    last_pos_ = 0;
    last_seq_ = 0;
    std::memset(last_hash_, 0, kHashLen);  // the genesis link
}

// A chain picked up after a row checked earlier (verify_increment(): each new row is linked to
// the row before it as stored, not to a walk from position 1).
void ChainWalker::resume_chain(Bytes chain_id, std::int64_t last_pos, std::int64_t last_seq,
                               const std::uint8_t last_hash[kHashLen])
{
    chain_id_ = chain_id;
    sealed_ = nullptr;
    in_chain_ = true;
    last_pos_ = last_pos;
    last_seq_ = last_seq;
    std::memcpy(last_hash_, last_hash, kHashLen);
}

RowLink row_link_of(const AuditRecord &r, int hash_version)
{
    RowLink l;
    l.seq = r.seq;
    l.chain_pos = r.chain_pos;
    l.hash_version = hash_version;
    l.prev_ok = r.prev_hash != nullptr;
    if (l.prev_ok)
        std::memcpy(l.prev_hash, r.prev_hash, kHashLen);
    return l;
}

void settle_row_content(RowLink &l, const std::uint8_t computed[kHashLen], const std::uint8_t *stored_hash,
                        std::size_t stored_len)
{
    l.stored_ok = stored_hash != nullptr && stored_len == kHashLen;
    l.content_ok = l.stored_ok && std::memcmp(stored_hash, computed, kHashLen) == 0;
    // Link the next row to what this row claims, so one altered row is reported once.
    std::memcpy(l.hash, l.stored_ok ? stored_hash : computed, kHashLen);
}

RowLink check_row_content(const AuditRecord &r, const std::uint8_t *stored_hash, std::size_t stored_len,
                          int hash_version, Hasher &hasher)
{
    RowLink l = row_link_of(r, hash_version);
    std::uint8_t computed[kHashLen];
    hash_record_v1(r, hasher, computed);
    settle_row_content(l, computed, stored_hash, stored_len);
    return l;
}

void ChainWalker::check_row(const AuditRecord &r, const std::uint8_t *stored_hash, std::size_t stored_len,
                            int hash_version, Hasher &hasher, ProblemSink &sink)
{
    link_row(check_row_content(r, stored_hash, stored_len, hash_version, hasher), sink);
}

// Checks one row against the previous one of its chain (position, prev_hash, seq order), its own
// content, and the sealed head when the checkpoint ends at this position.  Every problem goes to
// the sink and the walk goes on, linking to what the row claims, so one altered row is reported
// once and later rows are still checked.
void ChainWalker::link_row(const RowLink &r, ProblemSink &sink)
{
    rows_++;
    auto report = [&](Problem kind, std::int64_t expected, std::int64_t actual) {
        sink.report(ProblemReport{kind, r.seq, chain_id_, r.chain_pos, expected, actual});
    };
    if (r.hash_version != kChainEncodingVersion)
        report(Problem::UnknownVersion, kChainEncodingVersion, r.hash_version);
    if (r.chain_pos != last_pos_ + 1)
        report(Problem::PositionGap, last_pos_ + 1, r.chain_pos);
    if (!r.prev_ok || std::memcmp(r.prev_hash, last_hash_, kHashLen) != 0)
        report(Problem::BrokenLink, last_pos_, r.chain_pos);
    if (last_pos_ > 0 && r.seq <= last_seq_)
        report(Problem::SeqNotIncreasing, last_seq_, r.seq);
    if (!r.content_ok)
        report(Problem::ContentChanged, 0, 0);
    if (sealed_ != nullptr && r.chain_pos == sealed_->length &&
        (r.seq != sealed_->last_seq || !r.stored_ok || std::memcmp(r.hash, sealed_->last_hash, kHashLen) != 0))
        report(Problem::CheckpointMismatch, sealed_->last_seq, r.seq);

    last_pos_ = r.chain_pos;
    last_seq_ = r.seq;
    std::memcpy(last_hash_, r.hash, kHashLen);
}

// The last row of a chain against its head (length, last seq, last hash) and against the sealed
// head: a truncated tail or a head moved back is reported here.
void ChainWalker::end_chain(const HeadRecord *head, ProblemSink &sink)
{
    if (!in_chain_)
        return;
    in_chain_ = false;
    chains_++;
    if (sealed_ != nullptr && last_pos_ < sealed_->length)
        sink.report(ProblemReport{Problem::CheckpointRowMissing, sealed_->last_seq, chain_id_, last_pos_,
                                  sealed_->length, last_pos_});
    if (head == nullptr) {
        sink.report(ProblemReport{Problem::HeadMissing, last_seq_, chain_id_, last_pos_, 0, last_pos_});
        return;
    }
    if (head->length != last_pos_ || head->last_seq != last_seq_ ||
        std::memcmp(head->last_hash, last_hash_, kHashLen) != 0) {
        // A shortened chain is reported at the seq its head says it ended with.
        std::int64_t where = head->length > last_pos_ ? head->last_seq : last_seq_;
        sink.report(ProblemReport{Problem::HeadMismatch, where, chain_id_, last_pos_, head->length, last_pos_});
    }
}

// A head whose chain has no row left at all.
void report_chain_removed(const HeadRecord &head, ProblemSink &sink)
{
    sink.report(ProblemReport{Problem::ChainRemoved, head.last_seq, head.chain_id, 0, head.length, 0});
}

// A chain the checkpoint sealed that has no row left.
void report_sealed_chain_missing(const HeadRecord &sealed, ProblemSink &sink)
{
    sink.report(ProblemReport{Problem::CheckpointRowMissing, sealed.last_seq, sealed.chain_id, 0, sealed.length, 0});
}

// The sentence verify_chain() and the offline verifier print for a problem: one wording for both,
// so that their outputs can be compared byte for byte (test/integration/offline_verifier.sh).
std::size_t describe_problem(const ProblemReport &p, char *buf, std::size_t cap)
{
    int id_len = static_cast<int>(p.chain_id.len > 200 ? 200 : p.chain_id.len);
    const char *id = p.chain_id.data ? p.chain_id.data : "";
    int n = 0;
    switch (p.kind) {
        case Problem::UnknownVersion:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): unknown hash_version %" PRId64,
                              id_len, id, p.chain_pos, p.seq, p.actual);
            break;
        case Problem::PositionGap:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): expected position %" PRId64
                              " (rows are missing before this one)", id_len, id, p.chain_pos, p.seq, p.expected);
            break;
        case Problem::BrokenLink:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): prev_hash does not match the %s",
                              id_len, id, p.chain_pos, p.seq,
                              p.expected == 0 ? "chain's genesis (32 zero bytes)" : "previous row's row_hash");
            break;
        case Problem::SeqNotIncreasing:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): seq does not increase along the chain",
                              id_len, id, p.chain_pos, p.seq);
            break;
        case Problem::ContentChanged:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): row_hash does not match the "
                              "row's content (the row was changed after it was written)", id_len, id, p.chain_pos, p.seq);
            break;
        case Problem::HeadMissing:
            n = std::snprintf(buf, cap, "chain \"%.*s\": rows up to seq %" PRId64 " have no chain_head row (the head was deleted)",
                              id_len, id, p.seq);
            break;
        case Problem::HeadMismatch:
            n = std::snprintf(buf, cap, "chain \"%.*s\": chain_head records %" PRId64 " rows, the log holds %" PRId64
                              " rows (rows at the tail were removed, or the head was changed)",
                              id_len, id, p.expected, p.actual);
            break;
        case Problem::ChainRemoved:
            n = std::snprintf(buf, cap, "chain \"%.*s\": chain_head records %" PRId64 " rows ending at seq %" PRId64
                              ", the log holds none (the whole chain was removed)", id_len, id, p.expected, p.seq);
            break;
        case Problem::CheckpointRowMissing:
            n = std::snprintf(buf, cap, "chain \"%.*s\": the checkpoint covers %" PRId64 " rows ending at seq %" PRId64
                              ", the log holds %" PRId64 " (rows were removed after the checkpoint)",
                              id_len, id, p.expected, p.seq, p.actual);
            break;
        case Problem::CheckpointMismatch:
            n = std::snprintf(buf, cap, "chain \"%.*s\" position %" PRId64 " (seq %" PRId64 "): the row differs from the one the "
                              "checkpoint sealed (the chain was rewritten after the checkpoint)", id_len, id, p.chain_pos, p.seq);
            break;
    }
    if (n < 0)
        n = 0;
    return static_cast<std::size_t>(n) < cap ? static_cast<std::size_t>(n) : cap - 1;
}

}  // namespace forgea::core
