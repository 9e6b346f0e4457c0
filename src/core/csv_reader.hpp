// CSV as PostgreSQL's COPY ... CSV writes it (RFC 4180), read as a stream: the offline verifier
// reads exports of the audit log (tools/export_audit.sh) that can hold millions of rows.
// Fields are separated by ',' and records end with '\n' (or "\r\n") outside quotes.  A quoted
// field may hold ',', '"' (doubled), CR and LF; bytes are kept as they are (UTF-8 passes through).
// COPY writes SQL NULL as an unquoted empty field and an empty string as "": the two differ here.
#pragma once

#include "pure_cpp.hpp"  // no PostgreSQL header before this one (see there)

#include <cstdio>
#include <string>
#include <vector>

namespace forgea::core {

struct CsvField {
    std::string value;
    bool null = false;  // an unquoted empty field
};

class CsvReader {
public:
    // Reads f from where it stands; f stays the caller's (not closed here).
    explicit CsvReader(std::FILE *f) : f_(f) {}

    enum Result { kRecord, kEnd, kError };

    // The next record into fields (reusing their storage): kRecord, kEnd at the end of the file,
    // or kError (then error(), error_line(), and read_failed() with errno set by the read).
    Result next(std::vector<CsvField> &fields);

    long record_line() const { return record_line_; }  // the line the last record started on, from 1
    const char *error() const { return error_; }        // static text
    long error_line() const { return error_line_; }
    bool read_failed() const { return read_failed_; }

private:
    int get();
    Result fail(const char *what, long line);

    std::FILE *f_;
    long line_ = 1;
    long record_line_ = 0;
    const char *error_ = "";
    long error_line_ = 0;
    bool read_failed_ = false;
};

}  // namespace forgea::core
