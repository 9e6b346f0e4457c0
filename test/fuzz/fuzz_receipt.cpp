// libFuzzer harness: the offline tool's receipt reader (tools/forgea_audit_verify.cpp, --receipt):
// its JSON parser, the receipt's fields, the row's hash, the inclusion proof and the checkpoint
// note inside it.  A receipt comes from whoever hands it over (a student, a web page), so on any
// input the reader must end with a verdict (ok, FAIL, or "not a receipt") and never touch memory
// it does not own, throw anything else, or loop.  The tool is compiled into this harness with
// FA_VERIFY_FUZZ, which leaves out main() and turns its exits into a VerifyStop exception.
// Seeds: test/fuzz/seeds/fuzz_receipt/ (receipts made by forgea_audit.receipt(), one signed).
#define FA_VERIFY_FUZZ 1
#include "../../tools/forgea_audit_verify.cpp"

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string text(reinterpret_cast<const char *>(data), size);
    Options o;  // no public key: an unsigned note is checked, a signed one refused (the tool's rules)
    o.receipt = "fuzz-input";
    try {
        int rc = verify_receipt_text(o, text, o.receipt);
        FA_REQUIRE(rc == kExitOk, "verify_receipt_text returned without a verdict");
    } catch (const VerifyStop &s) {
        FA_REQUIRE(s.code == kExitFailed || s.code == kExitBadInput, "an exit status the tool does not document");
    }
    return 0;
}
