// The checks that the Merkle tables agree with audit_log (docs/transparency.md, "What the
// verifiers check of the tree"), made by verify_chain() (with or without a checkpoint) and by
// verify_increment(): whatever else they verify, a row the tree has lost is never passed over.
#include "chain/merkle_store.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/builtins.h"
}

#include "pg/datum_read.hpp"
#include "pg/spi_plan.hpp"

namespace {

SPIPlanPtr unintegrated_plan;

// The statements, prepared once per backend.
void prepare_plans()
{
    if (unintegrated_plan != nullptr)
        return;
    // Committed rows below the horizon that are not leaves: an anti-join on merkle_leaf's seq
    // index (one probe or merge step per row: linear).
    const FaPlanSpec specs[1] = {
        {"SELECT s.horizon_seq, u.first, u.n FROM forgea_audit.merkle_state s CROSS JOIN LATERAL ("
         "  SELECT min(a.seq) AS first, count(*) AS n FROM forgea_audit.audit_log a WHERE a.seq < s.horizon_seq "
         "  AND NOT EXISTS (SELECT 1 FROM forgea_audit.merkle_leaf m WHERE m.seq = a.seq)) u",
         0, nullptr},
    };
    SPIPlanPtr kept[1];
    fa_keep_plans(specs, 1, kept, "the Merkle log checks");
    unintegrated_plan = kept[0];
}

}  // namespace

void fa_merkle_finding(FaMerkleFinding *f, int64 seq, char *text)
{
    if (f->count == 0 || (seq != 0 && (f->seq == 0 || seq < f->seq))) {
        f->seq = seq;
        f->text = text;
    }
    f->count++;
}

// Every committed row below the horizon must be a leaf: the integrator never looks below it again.
void fa_merkle_check_unintegrated(bool read_only, MemoryContext keep, FaMerkleFinding *f)
{
    prepare_plans();
    int rc = SPI_execute_plan(unintegrated_plan, nullptr, nullptr, read_only, 0);
    if (rc != SPI_OK_SELECT)
        elog(ERROR, "checking the Merkle horizon failed: %s", SPI_result_code_string(rc));
    if (SPI_processed != 1)
        return;  // no merkle_state row: nothing was ever integrated, so no horizon either
    FaRow row = fa_spi_row(0, "the Merkle horizon check");
    int64 horizon, first, n;
    if (!fa_get_opt<SqlInt8>(row, 1, &horizon) || !fa_get_opt<SqlInt8>(row, 2, &first) ||
        !fa_get_opt<SqlInt8>(row, 3, &n))
        return;
    SPI_freetuptable(SPI_tuptable);
    MemoryContext old = MemoryContextSwitchTo(keep);
    char *text = n == 1 ? psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it", first, horizon)
                        : psprintf("audit row " INT64_FORMAT " is below the Merkle integrator's horizon (seq " INT64_FORMAT
                                   ") but is not a leaf: no integration will take it (" INT64_FORMAT " such rows)",
                                   first, horizon, n);
    MemoryContextSwitchTo(old);
    fa_merkle_finding(f, first, text);
}
