#include "pg/core_headers.hpp"  // first: see there

#include "json/canonical_jsonb.hpp"

extern "C" {
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/numeric.h"
}

#include "core/canonical_json_bytes.hpp"
#include "pg/boundary.hpp"
#include "pg/datum_read.hpp"

using forgea::core::ByteSink;

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

// A template so that a concrete sink's put() is inlined (see write_json_string_to).
template <typename Sink>
static void write_canonical(const Jsonb *jb, Sink &out)
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

// The canonical writer through the ByteSink interface, for callers without a concrete sink type.
void write_canonical_jsonb(const Jsonb *jb, ByteSink &out)
{
    write_canonical(jb, out);
}

// Into a reused buffer: verify_chain encodes two jsonb columns per row without a new allocation.
void canonical_jsonb_into(const Jsonb *jb, StringInfo buf)
{
    resetStringInfo(buf);
    StringInfoSink sink(buf);
    write_canonical(jb, sink);
}

// Into a new palloc'd StringInfo (the append hashes and stores it).
StringInfo canonical_jsonb_text(const Jsonb *jb)
{
    StringInfo buf = makeStringInfo();
    StringInfoSink sink(buf);
    write_canonical(jb, sink);
    return buf;
}

// forgea_audit.canonical_json(jsonb) RETURNS text: the bytes the chain hashes for a jsonb value,
// for anyone re-implementing the verifier to compare against.
FA_FUNCTION(fa_canonical_json, "forgea_audit.canonical_json")
{
    StringInfo text = canonical_jsonb_text(fa_arg<SqlJsonb>(fcinfo, 0, "value"));
    PG_RETURN_TEXT_P(cstring_to_text_with_len(text->data, text->len));
}
