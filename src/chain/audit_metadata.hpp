// Builds a flat jsonb object for audit metadata, key by key, in palloc'd memory.
#pragma once

#include "pg/core_headers.hpp"  // first: see there
#include "pg/boundary.hpp"

extern "C" {
#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
}

#include "core/chain_record.hpp"

class MetadataBuilder {
public:
    MetadataBuilder() { pushJsonbValue(&state_, WJB_BEGIN_OBJECT, nullptr); }

    // NULL text is left out: absent keys say "not known" in metadata.
    MetadataBuilder &text(const char *key, forgea::core::Bytes value)
    {
        if (value.is_null())
            return *this;
        JsonbValue v;
        v.type = jbvString;
        v.val.string.val = const_cast<char *>(value.data);
        v.val.string.len = static_cast<int>(value.len);
        return put(key, v);
    }

    MetadataBuilder &text(const char *key, const char *value)
    {
        return text(key, forgea::core::Bytes{value, value ? strlen(value) : 0});
    }

    MetadataBuilder &integer(const char *key, int64 value)
    {
        JsonbValue v;
        v.type = jbvNumeric;
        v.val.numeric = int64_to_numeric(value);
        return put(key, v);
    }

    MetadataBuilder &integer(const char *key, forgea::core::NullableInt64 value)
    {
        return value.is_null ? *this : integer(key, value.value);
    }

    MetadataBuilder &boolean(const char *key, bool value)
    {
        JsonbValue v;
        v.type = jbvBool;
        v.val.boolean = value;
        return put(key, v);
    }

    Jsonb *finish() { return JsonbValueToJsonb(pushJsonbValue(&state_, WJB_END_OBJECT, nullptr)); }

private:
    MetadataBuilder &put(const char *key, JsonbValue &v)
    {
        JsonbValue k;
        k.type = jbvString;
        k.val.string.val = const_cast<char *>(key);
        k.val.string.len = static_cast<int>(strlen(key));
        pushJsonbValue(&state_, WJB_KEY, &k);
        pushJsonbValue(&state_, WJB_VALUE, &v);
        return *this;
    }

    JsonbParseState *state_ = nullptr;
};
FA_LIVES_ACROSS_PG_CALLS(MetadataBuilder);
