// A strict JSON reader for the offline tools (json_text.hpp): a recursive descent over RFC 8259's
// grammar that keeps numbers as text and refuses repeated keys.
#include "json_text.hpp"

#include <algorithm>
#include <cstring>

#include "hex.hpp"
#include "push_rules.hpp"

namespace forgea::core::json {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The length of the UTF-8 sequence starting at s (at most n bytes available), or 0 if it is not a
// well-formed one (RFC 3629: no overlong form, no surrogate, nothing above U+10FFFF).
std::size_t utf8_sequence(const unsigned char *s, std::size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;  // overlong below U+0800
        if (c == 0xED)
            hi = 0x9F;  // U+D800..U+DFFF
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;  // overlong below U+10000
        if (c == 0xF4)
            hi = 0x8F;  // above U+10FFFF
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (std::size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return len;
}

void put_utf8(std::string &out, unsigned cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

// One pass over the text; every function returns false after setting err_ (the first error wins).
class Parser {
public:
    Parser(const char *s, std::size_t n, Error *err) : s_(s), n_(n), err_(err) {}

    bool document(Value *out)
    {
        skip_ws();
        if (!value(out, 0))
            return false;
        skip_ws();
        if (i_ != n_)
            return fail("text after the JSON value");
        return true;
    }

private:
    bool fail(const char *what)
    {
        err_->offset = i_;
        err_->what = what;
        return false;
    }

    void skip_ws()
    {
        while (i_ < n_ && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
            i_++;
    }

    bool eat(char c)
    {
        if (i_ < n_ && s_[i_] == c) {
            i_++;
            return true;
        }
        return false;
    }

    bool word(const char *w)
    {
        std::size_t len = std::strlen(w);
        if (n_ - i_ < len || std::memcmp(s_ + i_, w, len) != 0)
            return false;
        i_ += len;
        return true;
    }

    bool hex4(unsigned *v)
    {
        if (n_ - i_ < 4)
            return fail("a short \\u escape");
        *v = 0;
        for (int k = 0; k < 4; k++) {
            int d = hex_digit_value(s_[i_]);
            if (d < 0)
                return fail("a bad \\u escape");
            *v = *v * 16 + static_cast<unsigned>(d);
            i_++;
        }
        return true;
    }

    // A string, the opening quote at i_; decoded into out.
    bool string(std::string *out)
    {
        out->clear();
        i_++;
        for (;;) {
            if (i_ >= n_)
                return fail("an unterminated string");
            unsigned char c = static_cast<unsigned char>(s_[i_]);
            if (c == '"') {
                i_++;
                return true;
            }
            if (c < 0x20)
                return fail("a control character in a string");
            if (c != '\\') {
                std::size_t len = utf8_sequence(reinterpret_cast<const unsigned char *>(s_ + i_), n_ - i_);
                if (len == 0)
                    return fail("a string that is not UTF-8");
                out->append(s_ + i_, len);
                i_ += len;
                continue;
            }
            i_++;
            if (i_ >= n_)
                return fail("an unterminated escape");
            char e = s_[i_++];
            switch (e) {
            case '"': *out += '"'; break;
            case '\\': *out += '\\'; break;
            case '/': *out += '/'; break;
            case 'b': *out += '\b'; break;
            case 'f': *out += '\f'; break;
            case 'n': *out += '\n'; break;
            case 'r': *out += '\r'; break;
            case 't': *out += '\t'; break;
            case 'u': {
                unsigned cp;
                if (!hex4(&cp))
                    return false;
                if (cp >= 0xD800 && cp < 0xDC00) {
                    unsigned lo;
                    if (!word("\\u"))
                        return fail("a lone surrogate");
                    if (!hex4(&lo))
                        return false;
                    if (lo < 0xDC00 || lo >= 0xE000)
                        return fail("a bad surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return fail("a lone surrogate");
                }
                put_utf8(*out, cp);
                break;
            }
            default:
                i_--;
                return fail("an unknown escape");
            }
        }
    }

    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    bool number(Value *out)
    {
        std::size_t start = i_;
        eat('-');
        if (i_ >= n_ || !is_digit(s_[i_]))
            return fail("not a JSON value");
        if (s_[i_] == '0') {
            i_++;
            if (i_ < n_ && is_digit(s_[i_]))
                return fail("a number with a leading zero");
        } else {
            while (i_ < n_ && is_digit(s_[i_]))
                i_++;
        }
        if (eat('.')) {
            if (i_ >= n_ || !is_digit(s_[i_]))
                return fail("no digit after a decimal point");
            while (i_ < n_ && is_digit(s_[i_]))
                i_++;
        }
        if (i_ < n_ && (s_[i_] == 'e' || s_[i_] == 'E')) {
            i_++;
            if (!eat('+'))
                eat('-');
            if (i_ >= n_ || !is_digit(s_[i_]))
                return fail("no digit in an exponent");
            while (i_ < n_ && is_digit(s_[i_]))
                i_++;
        }
        out->kind = Value::Number;
        out->text.assign(s_ + start, i_ - start);
        return true;
    }

    // Every key of the object once: sorted, so that a document of many keys costs n log n.  The
    // error points at the later of two equal keys.
    bool unique_keys(const Value &obj, const std::vector<std::size_t> &key_offsets)
    {
        std::vector<std::size_t> order(obj.members.size());
        for (std::size_t k = 0; k < order.size(); k++)
            order[k] = k;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            int c = obj.members[a].first.compare(obj.members[b].first);
            return c < 0 || (c == 0 && a < b);
        });
        for (std::size_t k = 1; k < order.size(); k++)
            if (obj.members[order[k]].first == obj.members[order[k - 1]].first) {
                i_ = key_offsets[order[k]];
                return fail("a key repeated in an object");
            }
        return true;
    }

    bool object(Value *out, int depth)
    {
        std::vector<std::size_t> key_offsets;
        out->kind = Value::Object;
        i_++;
        skip_ws();
        if (eat('}'))
            return true;
        for (;;) {
            skip_ws();
            if (i_ >= n_ || s_[i_] != '"')
                return fail("an object key is not a string");
            key_offsets.push_back(i_);
            out->members.emplace_back();
            if (!string(&out->members.back().first))
                return false;
            skip_ws();
            if (!eat(':'))
                return fail("':' missing");
            skip_ws();
            if (!value(&out->members.back().second, depth + 1))
                return false;
            skip_ws();
            if (eat(','))
                continue;
            if (eat('}'))
                return unique_keys(*out, key_offsets);
            return fail("',' or '}' missing");
        }
    }

    bool array(Value *out, int depth)
    {
        out->kind = Value::Array;
        i_++;
        skip_ws();
        if (eat(']'))
            return true;
        for (;;) {
            skip_ws();
            out->items.emplace_back();
            if (!value(&out->items.back(), depth + 1))
                return false;
            skip_ws();
            if (eat(','))
                continue;
            if (eat(']'))
                return true;
            return fail("',' or ']' missing");
        }
    }

    bool value(Value *out, int depth)
    {
        if (depth > kMaxDepth)
            return fail("nesting too deep");
        if (i_ >= n_)
            return fail("a value is missing");
        switch (s_[i_]) {
        case '{':
            return object(out, depth);
        case '[':
            return array(out, depth);
        case '"':
            out->kind = Value::String;
            return string(&out->text);
        default:
            break;
        }
        if (word("null")) {
            out->kind = Value::Null;
            return true;
        }
        if (word("true") || word("false")) {
            out->kind = Value::Bool;
            out->text = s_[i_ - 1] == 'e' && s_[i_ - 2] == 'u' ? "true" : "false";
            return true;
        }
        return number(out);
    }

    const char *s_;
    std::size_t n_;
    Error *err_;
    std::size_t i_ = 0;
};

}  // namespace

// Linear: the documents read here have objects of a few dozen members.
const Value *Value::get(const std::string &key) const
{
    if (kind != Object)
        return nullptr;
    for (const auto &m : members)
        if (m.first == key)
            return &m.second;
    return nullptr;
}

bool parse(const char *text, std::size_t len, Value *out, Error *err)
{
    *out = Value{};
    return Parser(text, len, err).document(out);
}

bool plain_int64(const Value &v, std::int64_t *out)
{
    return v.kind == Value::Number && plain_int64_text(v.text, out);
}

bool plain_int64_text(const std::string &t, std::int64_t *out)
{
    if (t.empty() || t == "-0")
        return false;
    std::size_t digits = t[0] == '-' ? 1 : 0;
    if (digits == t.size() || (t[digits] == '0' && t.size() > digits + 1))
        return false;
    for (std::size_t k = digits; k < t.size(); k++)
        if (!is_digit(t[k]))
            return false;
    return parse_int64(t.data(), t.size(), out);
}

}  // namespace forgea::core::json
