// libFuzzer harness: the offline verifier's CSV reader (src/core/csv_reader.hpp), which reads
// exports that whoever hands them to an auditor may have edited.  Two properties per input:
//   1. the input as CSV: reading ends (a record count bounded by the input), never reads outside
//      it, and what it read, written again as COPY ... CSV writes it (NULL unquoted and empty,
//      every other field quoted, quotes doubled), reads back as the same records;
//   2. the input as records (0x01 ends a record, 0x00 a field, a field of the single byte 0x02 is
//      NULL): written as COPY writes them, they read back exactly, whatever bytes the fields hold
//      (commas, quotes, CR, LF, NUL).
#include <cstdio>
#include <string>
#include <vector>

#include "core/csv_reader.hpp"

#include "fuzz_common.hpp"

namespace {

using Records = std::vector<std::vector<forgea::core::CsvField>>;

// Reads every record of text; false if the reader stopped with an error.
bool read_all(const std::string &text, Records *out)
{
    out->clear();
    std::FILE *f = text.empty() ? std::fopen("/dev/null", "rb")
                                : fmemopen(const_cast<char *>(text.data()), text.size(), "rb");
    FA_REQUIRE(f != nullptr, "fmemopen failed");
    forgea::core::CsvReader csv(f);
    std::vector<forgea::core::CsvField> fields;
    bool ok = true;
    for (;;) {
        forgea::core::CsvReader::Result r = csv.next(fields);
        if (r == forgea::core::CsvReader::kEnd)
            break;
        if (r == forgea::core::CsvReader::kError) {
            FA_REQUIRE(csv.error()[0] != '\0' && !csv.read_failed(), "an error without a reason, or a read error in memory");
            ok = false;
            break;
        }
        FA_REQUIRE(!fields.empty(), "a record without fields");
        out->push_back(fields);
        FA_REQUIRE(out->size() <= text.size(), "more records than bytes");
    }
    std::fclose(f);
    return ok;
}

std::string write_all(const Records &records)
{
    std::string s;
    for (const auto &rec : records) {
        for (std::size_t i = 0; i < rec.size(); i++) {
            if (i > 0)
                s += ',';
            if (rec[i].null)
                continue;
            s += '"';
            for (char c : rec[i].value)
                s += c == '"' ? std::string("\"\"") : std::string(1, c);
            s += '"';
        }
        s += '\n';
    }
    return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    std::string text(reinterpret_cast<const char *>(data), size);
    Records first, second;
    bool ok = read_all(text, &first);
    // The records read before an error, or all of them, written again and read back.
    std::string again = write_all(first);
    FA_REQUIRE(read_all(again, &second), "records written as COPY writes them were refused");
    FA_REQUIRE(second.size() == first.size(), "a different number of records after a round trip");
    for (std::size_t r = 0; r < first.size(); r++) {
        FA_REQUIRE(second[r].size() == first[r].size(), "a different number of fields after a round trip");
        for (std::size_t i = 0; i < first[r].size(); i++)
            FA_REQUIRE(second[r][i].null == first[r][i].null && second[r][i].value == first[r][i].value,
                       "a field changed in a round trip");
    }
    (void)ok;

    Records made;
    std::vector<forgea::core::CsvField> rec(1);
    for (std::size_t i = 0; i < size; i++) {
        char c = static_cast<char>(data[i]);
        if (c == '\x00' || c == '\x01') {
            if (rec.back().value == "\x02") {
                rec.back().value.clear();
                rec.back().null = true;
            }
            if (c == '\x00') {
                rec.emplace_back();
                continue;
            }
            // A record of one NULL field is written as an empty line, which reads as such.
            made.push_back(rec);
            rec.assign(1, forgea::core::CsvField{});
            continue;
        }
        rec.back().value += c;
    }
    Records read_back;
    FA_REQUIRE(read_all(write_all(made), &read_back), "records written as COPY writes them were refused");
    FA_REQUIRE(read_back.size() == made.size(), "a different number of records read back");
    for (std::size_t r = 0; r < made.size(); r++) {
        FA_REQUIRE(read_back[r].size() == made[r].size(), "a different number of fields read back");
        for (std::size_t i = 0; i < made[r].size(); i++)
            FA_REQUIRE(read_back[r][i].null == made[r][i].null && read_back[r][i].value == made[r][i].value,
                       "a field read back is not the one written");
    }
    return 0;
}
