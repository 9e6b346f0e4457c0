// The offline verifier's CSV reader (csv_reader.hpp): one byte at a time from a FILE, no copy of
// the file in memory.
#include "csv_reader.hpp"

namespace forgea::core {

// One byte, counting lines; EOF at the end and on a read error (read_failed_ tells them apart).
int CsvReader::get()
{
    int c = getc_unlocked(f_);  // one reader per file: no locking per byte
    if (c == '\n')
        line_++;
    if (c == EOF && std::ferror(f_))
        read_failed_ = true;
    return c;
}

CsvReader::Result CsvReader::fail(const char *what, long line)
{
    error_ = what;
    error_line_ = line;
    return kError;
}

CsvReader::Result CsvReader::next(std::vector<CsvField> &fields)
{
    std::size_t n = 0;
    int c = get();
    if (c == EOF)
        return read_failed_ ? fail("the file could not be read", line_) : kEnd;
    record_line_ = line_;
    for (;;) {
        if (n == fields.size())
            fields.emplace_back();
        CsvField &f = fields[n++];
        f.value.clear();
        f.null = false;
        if (c == '"') {
            for (;;) {
                c = get();
                if (c == EOF)
                    return fail(read_failed_ ? "the file could not be read" : "a quoted field is not closed", record_line_);
                if (c == '"') {
                    c = get();
                    if (c != '"')
                        break;  // the closing quote; c is what follows it
                }
                f.value.push_back(static_cast<char>(c));
            }
        } else {
            while (c != ',' && c != '\n' && c != '\r' && c != EOF) {
                if (c == '"')
                    return fail("a quote inside an unquoted field", line_);
                f.value.push_back(static_cast<char>(c));
                c = get();
            }
            f.null = f.value.empty();
        }
        if (c == ',') {
            c = get();
            continue;
        }
        if (c == '\r') {
            c = get();
            if (c != '\n')
                return fail("a carriage return outside quotes", line_);
        }
        if (read_failed_)
            return fail("the file could not be read", line_);
        if (c == '\n' || c == EOF) {
            fields.resize(n);
            return kRecord;
        }
        return fail("unexpected character after a closing quote", line_);
    }
}

}  // namespace forgea::core
