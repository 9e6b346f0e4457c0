// libFuzzer harness: the chain walk verify_chain() makes over rows in heap order (ChainTable,
// ChainInOrder and ChainWalker, src/core/chain_reorder.hpp and chain_verifier.hpp).  The input
// describes a log (how many chains, which chain each row joins, a byte of content per row), the
// physical order the rows are read in, and at most one tampering.  Built honestly, the log must
// verify whatever the order; tampered (a row removed, changed, duplicated, re-linked, its head
// removed or altered), it must not.  Rows and problems stay within the arena (ASan).
#include <cstdint>
#include <string>
#include <vector>

#include "core/chain_reorder.hpp"
#include "core/chain_verifier.hpp"
#include "fuzz_common.hpp"

namespace core = forgea::core;

namespace {

// Reads the input a byte at a time; zeros once it is used up.
struct Reader {
    const std::uint8_t *p;
    std::size_t n;
    std::uint8_t byte() { return n > 0 ? (n--, *p++) : 0; }
};

class MallocArena final : public core::Arena {
public:
    void *allocate(std::size_t bytes) override
    {
        void *p = std::calloc(1, bytes == 0 ? 1 : bytes);
        blocks.push_back(p);
        return p;
    }
    ~MallocArena()
    {
        for (void *p : blocks)
            std::free(p);
    }
    std::vector<void *> blocks;
};

struct Row {
    std::string chain_id;
    std::int64_t seq, chain_pos;
    std::uint8_t prev[core::kHashLen];
    std::uint8_t hash[core::kHashLen];
    std::string action;
    int version = core::kChainEncodingVersion;
};

core::AuditRecord record_of(const Row &r)
{
    core::AuditRecord a;
    a.seq = r.seq;
    a.chain_id = core::Bytes{r.chain_id.data(), r.chain_id.size()};
    a.chain_pos = r.chain_pos;
    a.prev_hash = r.prev;
    a.created_at_unix_us = 1795402567123456 + r.seq;
    a.actor_type = core::Bytes{"system", 6};
    a.action = core::Bytes{r.action.data(), r.action.size()};
    a.outcome = core::Bytes{"success", 7};
    a.severity = core::Bytes{"INFO", 4};
    a.metadata_json = core::Bytes{"{}", 2};
    return a;
}

enum Tamper { None, DropRow, ChangeRow, DuplicateRow, Relink, DropHead, HeadLength, ChangeVersion, kTampers };

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    Reader in{data, size};
    static const char *const kChains[] = {"session:a", "session:ab", "retention", "session:\xc3\xa9", "ddl"};
    int chains = 1 + in.byte() % 5;
    int rows = 1 + in.byte() % 48;

    // The honest log: seq grows, each chain links to its previous row.
    std::vector<Row> log;
    std::vector<core::HeadRecord> heads(chains);
    std::vector<std::int64_t> length(chains, 0);
    fuzz::Sha256 sha;
    for (int i = 0; i < rows; i++) {
        int c = in.byte() % chains;
        Row r;
        r.chain_id = kChains[c];
        r.seq = i + 1 + in.byte() % 3 * 1000;  // gaps in seq are legal
        if (!log.empty() && r.seq <= log.back().seq)
            r.seq = log.back().seq + 1;
        r.chain_pos = ++length[c];
        std::memcpy(r.prev, length[c] == 1 ? std::vector<std::uint8_t>(core::kHashLen, 0).data() : heads[c].last_hash,
                    core::kHashLen);
        r.action = std::string("A") + static_cast<char>('a' + in.byte() % 26);
        core::hash_record_v1(record_of(r), sha, r.hash);
        heads[c].chain_id = core::Bytes{kChains[c], std::strlen(kChains[c])};
        heads[c].length = r.chain_pos;
        heads[c].last_seq = r.seq;
        std::memcpy(heads[c].last_hash, r.hash, core::kHashLen);
        log.push_back(r);
    }

    // At most one tampering, on row t.
    Tamper tamper = static_cast<Tamper>(in.byte() % kTampers);
    std::size_t t = in.byte() % log.size();
    std::vector<core::HeadRecord> kept_heads;
    for (int c = 0; c < chains; c++)
        if (heads[c].length > 0)
            kept_heads.push_back(heads[c]);
    switch (tamper) {
    case None: break;
    case DropRow: log.erase(log.begin() + static_cast<long>(t)); break;
    case ChangeRow: log[t].action += "!"; break;                // row_hash no longer matches
    case DuplicateRow: log.push_back(log[t]); break;
    case Relink: log[t].prev[in.byte() % core::kHashLen] ^= 1 + in.byte() % 255; break;
    case DropHead: kept_heads.erase(kept_heads.begin() + static_cast<long>(t % kept_heads.size())); break;
    case HeadLength: kept_heads[t % kept_heads.size()].length += 1 + in.byte() % 2; break;
    case ChangeVersion: log[t].version = 2 + in.byte() % 3; break;
    default: break;
    }

    // The physical order: a shuffle driven by the input (rows of one chain may overtake each other).
    for (std::size_t i = log.size(); i > 1; i--)
        std::swap(log[i - 1], log[in.byte() % i]);

    MallocArena arena;
    core::FirstProblem problems;
    auto *table = new (arena.allocate(sizeof(core::ChainTable))) core::ChainTable(arena);
    for (const Row &r : log) {
        core::AuditRecord rec = record_of(r);
        core::RowLink link = core::check_row_content(rec, r.hash, core::kHashLen, r.version, sha);
        bool added = false;
        core::ChainInOrder *c = table->find_or_add(rec.chain_id, &added);
        if (added)
            c->walker.start_chain(c->chain_id);
        c->add(link, arena, problems);
    }
    std::vector<bool> head_used(kept_heads.size(), false);
    for (std::size_t i = 0; i < table->size(); i++) {
        core::ChainInOrder &c = table->at(i);
        const core::HeadRecord *head = nullptr;
        for (std::size_t h = 0; h < kept_heads.size(); h++)
            if (core::compare_chain_ids(kept_heads[h].chain_id, c.chain_id) == 0) {
                head = &kept_heads[h];
                head_used[h] = true;
            }
        c.finish(head, problems);
    }
    for (std::size_t h = 0; h < kept_heads.size(); h++)
        if (!head_used[h])
            core::report_chain_removed(kept_heads[h], problems);

    if (tamper == None)
        FA_REQUIRE(problems.count() == 0, "an honest log read in another order does not verify");
    else
        FA_REQUIRE(problems.count() > 0, "a tampered log verifies");
    if (problems.count() > 0)
        FA_REQUIRE(std::strlen(problems.first_text()) > 0, "a problem without a description");
    return 0;
}
