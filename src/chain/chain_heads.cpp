#include "pg/core_headers.hpp"  // first: see there

#include "chain/chain_heads.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
}

#include "chain/chain_append.hpp"

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
        HeapTuple t = SPI_tuptable->vals[i];
        TupleDesc desc = SPI_tuptable->tupdesc;
        bool isnull;
        forgea::core::HeadRecord &h = heads[i];
        h = forgea::core::HeadRecord{};
        text *id = DatumGetTextPP(SPI_getbinval(t, desc, 1, &isnull));
        size_t id_len = VARSIZE_ANY_EXHDR(id);
        char *id_copy = static_cast<char *>(MemoryContextAlloc(keep, id_len + 1));
        memcpy(id_copy, VARDATA_ANY(id), id_len);
        id_copy[id_len] = '\0';
        h.chain_id = Bytes{id_copy, id_len};
        h.length = DatumGetInt64(SPI_getbinval(t, desc, 2, &isnull));
        Datum last_seq = SPI_getbinval(t, desc, 3, &isnull);
        h.last_seq = isnull ? 0 : DatumGetInt64(last_seq);
        bytea *hash = DatumGetByteaPP(SPI_getbinval(t, desc, 4, &isnull));
        memcpy(h.last_hash, VARDATA_ANY(hash), Min(VARSIZE_ANY_EXHDR(hash), kHashLen));
    }
    SPI_freetuptable(SPI_tuptable);
    *count = n;
    return heads;
}

