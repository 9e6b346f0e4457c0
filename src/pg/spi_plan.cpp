#include "pg/core_headers.hpp"  // first: see there

#include "pg/spi_plan.hpp"

namespace {

// The error context line of a failed prepare: which set of statements was being prepared.
void plan_error_context(void *arg)
{
    errcontext("preparing %s", static_cast<const char *>(arg));
}

}  // namespace

// Two phases, prepare all then keep all, so that nothing is kept unless everything is: see the header.
void fa_keep_plans(const FaPlanSpec *specs, int n, SPIPlanPtr *out, const char *what)
{
    ErrorContextCallback callback;
    callback.callback = plan_error_context;
    callback.arg = const_cast<char *>(what);
    callback.previous = error_context_stack;
    error_context_stack = &callback;
    SPIPlanPtr *prepared = static_cast<SPIPlanPtr *>(palloc(sizeof(SPIPlanPtr) * Max(n, 1)));
    for (int i = 0; i < n; i++) {
        prepared[i] = SPI_prepare(specs[i].sql, specs[i].nargs, const_cast<Oid *>(specs[i].types));
        if (prepared[i] == nullptr)
            elog(ERROR, "SPI_prepare failed for \"%s\": %s", specs[i].sql, SPI_result_code_string(SPI_result));
    }
    error_context_stack = callback.previous;
    // SPI_keepplan only moves the plan's memory under CacheMemoryContext: it does not fail.
    for (int i = 0; i < n; i++) {
        SPI_keepplan(prepared[i]);
        out[i] = prepared[i];
    }
    pfree(prepared);
}

// One place for the failure check every caller would otherwise repeat.
int fa_exec_plan(SPIPlanPtr plan, Datum *values, const char *nulls, long tcount)
{
    int rc = SPI_execute_plan(plan, values, nulls, false, tcount);
    if (rc < 0)
        elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
    return rc;
}
