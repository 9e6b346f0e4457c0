// libFuzzer harness: the offline receipt check (src/core/receipt_check.hpp, what
// tools/forgea_audit_verify --receipt runs) and the strict JSON reader under it
// (src/core/json_text.hpp).  A receipt comes from whoever hands it over (a student, a web page),
// so on any input the check must end with a verdict (ok, FAIL, or "not a receipt") and never touch
// memory it does not own, throw, or loop; and the reader must never accept a document with a key
// repeated in an object.  Both are linked from the core, as the tool links them.
// Seeds: test/fuzz/seeds/fuzz_receipt/ (receipts made by forgea_audit.receipt(), one signed).
#include <set>
#include <string>

#include "core/json_text.hpp"
#include "core/receipt_check.hpp"

#include "fuzz_common.hpp"

namespace {

namespace json = forgea::core::json;

// Every object in v has each key once.
bool keys_unique(const json::Value &v)
{
    std::set<std::string> seen;
    for (const auto &m : v.members)
        if (!seen.insert(m.first).second || !keys_unique(m.second))
            return false;
    for (const auto &item : v.items)
        if (!keys_unique(item))
            return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    char *text = fuzz::exact_copy(reinterpret_cast<const char *>(data), size);
    json::Value v;
    json::Error err;
    if (json::parse(text, size, &v, &err))
        FA_REQUIRE(keys_unique(v), "a document with a repeated key was accepted");
    else
        FA_REQUIRE(err.offset <= size && err.what != nullptr && err.what[0] != '\0', "an error without a place or a reason");

    // No key, unsigned notes allowed: an unsigned note is checked all the way to the root, a signed
    // one refused (the tool's rules without --public-key).
    forgea::core::NotePolicy policy;
    policy.allow_unsigned = true;
    fuzz::Sha256 h;
    forgea::core::ReceiptVerdict r = forgea::core::check_receipt(text, size, policy, h);
    FA_REQUIRE(r.outcome == forgea::core::Outcome::kOk || r.outcome == forgea::core::Outcome::kFailed ||
                   r.outcome == forgea::core::Outcome::kBadInput,
               "a verdict the tool does not document");
    FA_REQUIRE(!r.text.empty(), "a verdict without words");
    std::free(text);
    return 0;
}
