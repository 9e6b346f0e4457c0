#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_heads.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
}

#include "chain/chain_append.hpp"
#include "pg/datum_read.hpp"

using forgea::core::Bytes;
using forgea::core::kHashLen;

// One SPI query, ordered in SQL by chain id under the C collation: the order the checkpoint root
// and the verifier's merge both need, so nothing is sorted in C++.
forgea::core::HeadRecord *fa_load_chain_heads(MemoryContext keep, int64 *count)
{
    int rc = SPI_execute("SELECT chain_id, length, last_seq, last_hash FROM forgea_audit.chain_head "
                         "WHERE length > 0 ORDER BY chain_id COLLATE \"C\"",
                         true, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "reading chain heads failed: %s", SPI_result_code_string(rc));
    static const Oid head_types[4] = {TEXTOID, INT8OID, INT8OID, BYTEAOID};
    fa_require_columns(SPI_tuptable->tupdesc, head_types, 4, "chain_head");
    int64 n = static_cast<int64>(SPI_processed);
    auto *heads = static_cast<forgea::core::HeadRecord *>(
        MemoryContextAllocHuge(keep, Max(n, 1) * sizeof(forgea::core::HeadRecord)));
    for (int64 i = 0; i < n; i++) {
        FaRow row = fa_spi_row(static_cast<uint64>(i), "forgea_audit.chain_head");
        forgea::core::HeadRecord &h = heads[i];
        h = forgea::core::HeadRecord{};
        text *id = fa_get<SqlText>(row, 1);
        size_t id_len = VARSIZE_ANY_EXHDR(id);
        char *id_copy = static_cast<char *>(MemoryContextAlloc(keep, id_len + 1));
        memcpy(id_copy, VARDATA_ANY(id), id_len);
        id_copy[id_len] = '\0';
        h.chain_id = Bytes{id_copy, id_len};
        h.length = fa_get<SqlInt8>(row, 2);
        int64 last_seq;
        h.last_seq = fa_get_opt<SqlInt8>(row, 3, &last_seq) ? last_seq : 0;
        bytea *hash = fa_get<SqlBytea>(row, 4);
        memcpy(h.last_hash, VARDATA_ANY(hash), Min(VARSIZE_ANY_EXHDR(hash), kHashLen));
    }
    SPI_freetuptable(SPI_tuptable);
    *count = n;
    return heads;
}

