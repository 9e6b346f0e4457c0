// forgea_audit_test_oracle: the canonical-JSON writer as it was before issue 23 (through
// JsonbIterator), the oracle test/pgtap/canonical_json_bytes.sql compares the shipped writer
// (src/json/canonical_jsonb.cpp, which walks the jsonb container itself) with, value by value.
//
// A test-only module, like PostgreSQL's src/test/regress/regress.so: `make` builds it
// (test/modules/forgea_audit_test_oracle.so), `make install` and the Debian package never install
// it, and the test binds its one function by the module's path (FA_TEST_ORACLE, which
// test/lib/pgtap_installcheck.sh sets), so a production install carries no test code.  It links
// the two pieces of the extension it needs (the JSON string escaper and the argument reader)
// statically: it loads whether or not forgea_audit.so is loaded in the session.
#include "pg/core_headers.hpp"  // first: see there

extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
}

#include "core/canonical_json_bytes.hpp"
#include "json/canonical_jsonb.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"

extern "C" {
PG_MODULE_MAGIC;
}

// One scalar (null, bool, numeric through numeric_out, string through the canonical escaper).
template <typename Sink>
static void write_scalar(const JsonbValue &v, Sink &out)
{
    switch (v.type) {
        case jbvNull:
            out.put("null", 4);
            break;
        case jbvBool:
            if (v.val.boolean)
                out.put("true", 4);
            else
                out.put("false", 5);
            break;
        case jbvNumeric: {
            // numeric_out is independent of every session setting and round-trips through
            // dump/restore: the digits PostgreSQL prints are the digits it stored.
            char *text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
            out.put(text, strlen(text));
            pfree(text);
            break;
        }
        case jbvString:
            forgea::core::write_json_string_to(out, v.val.string.val, v.val.string.len);
            break;
        default:
            elog(ERROR, "unexpected jsonb value type %d", static_cast<int>(v.type));
    }
}

// The writer as it was before issue 23 (through JsonbIterator): kept as the oracle that
// test/pgtap/canonical_json_bytes.sql compares write_canonical() with, value by value.
template <typename Sink>
static void write_canonical_iterated(const Jsonb *jb, Sink &out)
{
    JsonbIterator *it = JsonbIteratorInit(const_cast<JsonbContainer *>(&jb->root));
    JsonbValue v;
    JsonbIteratorToken tok;
    JsonbIteratorToken prev = WJB_DONE;
    bool raw_scalar = false;

    // jsonb hands object keys over sorted by (length, bytes) with duplicates removed: exactly the
    // canonical order, so the walk only has to add punctuation.
    while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE) {
        CHECK_FOR_INTERRUPTS();
        bool after_value = prev == WJB_VALUE || prev == WJB_ELEM || prev == WJB_END_OBJECT ||
                           prev == WJB_END_ARRAY;
        switch (tok) {
            case WJB_BEGIN_ARRAY:
                if (v.val.array.rawScalar) {
                    raw_scalar = true;
                    break;
                }
                if (after_value)
                    out.put_byte(',');
                out.put_byte('[');
                break;
            case WJB_BEGIN_OBJECT:
                if (after_value)
                    out.put_byte(',');
                out.put_byte('{');
                break;
            case WJB_KEY:
                if (after_value)
                    out.put_byte(',');
                forgea::core::write_json_string_to(out, v.val.string.val, v.val.string.len);
                out.put_byte(':');
                break;
            case WJB_VALUE:
                write_scalar(v, out);
                break;
            case WJB_ELEM:
                if (after_value && !raw_scalar)
                    out.put_byte(',');
                write_scalar(v, out);
                break;
            case WJB_END_ARRAY:
                if (!raw_scalar)
                    out.put_byte(']');
                break;
            case WJB_END_OBJECT:
                out.put_byte('}');
                break;
            case WJB_DONE:
                break;
        }
        prev = tok;
    }
}

// fa_canonical_json_iterated(jsonb) RETURNS text: the old writer's bytes.  The test binds it to a
// function of its own (CREATE FUNCTION pg_temp.old_canonical(jsonb) ... AS <module>,
// 'fa_canonical_json_iterated'); no SQL script of the extension names it.
FA_FUNCTION_SYMBOL(fa_canonical_json_iterated, fa_canonical_json_iterated_body, "canonical_json_iterated (test oracle)")
{
    StringInfo buf = makeStringInfo();
    StringInfoSink sink(buf);
    write_canonical_iterated(fa_arg<SqlJsonb>(fcinfo, 0, "value"), sink);
    PG_RETURN_TEXT_P(cstring_to_text_with_len(buf->data, buf->len));
}
