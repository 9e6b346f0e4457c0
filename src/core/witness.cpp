#include "witness.hpp"

#include <cstdio>
#include <cstring>
#include <memory>

#include "base64.hpp"
#include "ed25519.hpp"
#include "merkle_tree.hpp"

namespace forgea::core::witness {

namespace {

constexpr char kEmDash[] = "\xE2\x80\x94";

// A sink appending to a std::string (the tools' side of the core).
struct StringSink final : ByteSink {
    std::string s;
    void put(const void *data, std::size_t len) override { s.append(static_cast<const char *>(data), len); }
};

// A decimal without sign or leading zeros ("0" alone for zero), at most 2^63 - 1.
bool parse_decimal(const char *s, std::size_t len, std::int64_t *out)
{
    if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
        return false;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + static_cast<std::uint64_t>(s[i] - '0');
    }
    if (v > static_cast<std::uint64_t>(INT64_MAX))
        return false;
    *out = static_cast<std::int64_t>(v);
    return true;
}

// The next '\n'-terminated line at *pos (without its '\n'); false if there is no '\n' left.
bool take_line(const char *text, std::size_t len, std::size_t *pos, const char **line, std::size_t *line_len)
{
    if (*pos >= len)
        return false;
    const void *nl = std::memchr(text + *pos, '\n', len - *pos);
    if (nl == nullptr)
        return false;
    *line = text + *pos;
    *line_len = static_cast<std::size_t>(static_cast<const char *>(nl) - *line);
    *pos += *line_len + 1;
    return true;
}

bool valid_key_name(const std::string &name)
{
    if (name.empty())
        return false;
    for (unsigned char c : name)
        if (c <= 0x20 || c == 0x7f || c == '+')
            return false;
    return true;
}

bool same(Bytes b, const std::string &s) { return b.len == s.size() && std::memcmp(b.data, s.data(), s.size()) == 0; }

std::string lower_ascii(const char *s, std::size_t len)
{
    std::string out(s, len);
    for (char &c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

}  // namespace

std::uint32_t key_id(const std::string &name, std::uint8_t type, const std::uint8_t public_key[32], Hasher &h)
{
    h.put(name.data(), name.size());
    h.put_byte('\n');
    h.put_byte(type);
    h.put(public_key, 32);
    std::uint8_t d[kHashLen];
    h.finish(d);
    return (static_cast<std::uint32_t>(d[0]) << 24) | (static_cast<std::uint32_t>(d[1]) << 16) |
           (static_cast<std::uint32_t>(d[2]) << 8) | d[3];
}

// Splits at the first two '+' (a name has none; the base64 key may), checks the key id.
const char *parse_vkey(const std::string &text, Vkey *out, Hasher &h)
{
    std::size_t p1 = text.find('+');
    std::size_t p2 = p1 == std::string::npos ? p1 : text.find('+', p1 + 1);
    if (p2 == std::string::npos)
        return "a verifier key is <name>+<key id>+<key>";
    std::string name = text.substr(0, p1), hexid = text.substr(p1 + 1, p2 - p1 - 1), b64 = text.substr(p2 + 1);
    if (!valid_key_name(name))
        return "the key name is empty or has a '+', a space or a control character";
    if (hexid.size() != 8)
        return "the key id is not 8 hexadecimal digits";
    std::uint32_t id = 0;
    for (char c : hexid) {
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return "the key id is not 8 lowercase hexadecimal digits";
        id = (id << 4) | static_cast<std::uint32_t>(v);
    }
    std::uint8_t key[33];
    if (base64_decode(b64.data(), b64.size(), key, sizeof key) != 33)
        return "the key is not base64 of a type byte and a 32-byte Ed25519 public key";
    if (key[0] != kTypeEd25519 && key[0] != kTypeCosignatureV1)
        return "the key's type is neither Ed25519 (0x01) nor an Ed25519 cosignature/v1 key (0x04)";
    if (key_id(name, key[0], key + 1, h) != id)
        return "the key id does not match the name and key (SHA-256(name || \"\\n\" || type || key)[:4])";
    out->name = name;
    out->key_id = id;
    out->type = key[0];
    std::memcpy(out->public_key, key + 1, 32);
    return nullptr;
}

std::string format_vkey(const std::string &name, std::uint8_t type, const std::uint8_t public_key[32], Hasher &h)
{
    char hexid[9];
    std::snprintf(hexid, sizeof hexid, "%08x", key_id(name, type, public_key, h));
    std::uint8_t key[33];
    key[0] = type;
    std::memcpy(key + 1, public_key, 32);
    StringSink b64;
    base64_encode(key, sizeof key, b64);
    return name + "+" + hexid + "+" + b64.s;
}

// ---- add-checkpoint -------------------------------------------------------------------------

const char *parse_add_checkpoint(const char *body, std::size_t len, AddCheckpoint *out)
{
    out->proof_len = 0;
    std::size_t pos = 0;
    const char *line = nullptr;
    std::size_t n = 0;
    if (!take_line(body, len, &pos, &line, &n) || n < 5 || std::memcmp(line, "old ", 4) != 0 ||
        !parse_decimal(line + 4, n - 4, &out->old_size))
        return "the first line is not \"old <size>\" (a decimal without leading zeros)";
    for (;;) {
        if (!take_line(body, len, &pos, &line, &n))
            return "the empty line before the checkpoint is missing";
        if (n == 0)
            break;
        if (out->proof_len == kMaxProofLines)
            return "more than 63 consistency proof lines";
        if (base64_decode(line, n, out->proof[out->proof_len], kHashLen) != static_cast<long>(kHashLen))
            return "a consistency proof line is not base64 of a 32-byte hash";
        out->proof_len++;
    }
    if (pos >= len)
        return "the checkpoint is missing";
    out->note = body + pos;
    out->note_len = len - pos;
    return nullptr;
}

std::string format_add_checkpoint(std::int64_t old_size, const std::uint8_t (*proof)[kHashLen], int proof_len,
                                  const std::string &note)
{
    StringSink s;
    s.s = "old " + std::to_string(old_size) + "\n";
    for (int i = 0; i < proof_len; i++) {
        base64_encode(proof[i], kHashLen, s);
        s.s += '\n';
    }
    s.s += '\n';
    s.s += note;
    return s.s;
}

// ---- cosignatures ---------------------------------------------------------------------------

std::string cosignature_message(Bytes text_signed, std::uint64_t timestamp)
{
    std::string m = "cosignature/v1\ntime " + std::to_string(timestamp) + "\n";
    m.append(text_signed.data, text_signed.len);
    return m;
}

bool check_cosignatures(const char *lines, std::size_t len, Bytes text_signed, const Vkey &witness,
                        CosignatureCheck *out)
{
    *out = CosignatureCheck{};
    std::size_t pos = 0;
    const char *line = nullptr;
    std::size_t n = 0;
    while (take_line(lines, len, &pos, &line, &n)) {
        if (n == 0)
            continue;
        if (n < 5 || std::memcmp(line, kEmDash, 3) != 0 || line[3] != ' ')
            return false;
        const char *name = line + 4;
        const char *space = static_cast<const char *>(std::memchr(name, ' ', n - 4));
        if (space == nullptr)
            return false;
        std::size_t name_len = static_cast<std::size_t>(space - name);
        std::uint8_t blob[76];
        long b = base64_decode(space + 1, n - 4 - name_len - 1, blob, sizeof blob);
        if (b < 4)
            return false;
        std::uint32_t id = (static_cast<std::uint32_t>(blob[0]) << 24) | (static_cast<std::uint32_t>(blob[1]) << 16) |
                           (static_cast<std::uint32_t>(blob[2]) << 8) | blob[3];
        if (!same(Bytes{name, name_len}, witness.name) || id != witness.key_id)
            continue;  // another witness's, or an unknown key: ignored
        std::uint64_t ts = 0;
        for (int i = 0; b == 76 && i < 8; i++)
            ts = (ts << 8) | blob[4 + i];
        std::string msg = cosignature_message(text_signed, ts);
        if (b == 76 && ts >> 63 == 0 && ed25519_verify(witness.public_key, msg.data(), msg.size(), blob + 12)) {
            out->valid++;
            out->timestamp = ts;
            out->lines.append(line, n);
            out->lines += '\n';
        } else {
            out->invalid++;
        }
    }
    return pos == len;  // a trailing line without '\n' is malformed
}

// ---- the witness ----------------------------------------------------------------------------

Decision decide(const AddCheckpoint &req, const LogKeys &logs, const State &state, Hasher &h)
{
    Decision d;
    std::unique_ptr<ParsedCheckpoint> owned(new ParsedCheckpoint);  // ~2 KB, kept off the stack
    ParsedCheckpoint *cp = owned.get();
    // The note must end with its signature lines' newline (parse_checkpoint forgives a missing
    // final newline on unsigned notes only, which the witness refuses anyway).
    if (const char *why = parse_checkpoint(req.note, req.note_len, cp)) {
        d.message = std::string("the checkpoint is malformed: ") + why;
        return d;
    }
    if (!cp->body.tree) {
        d.message = "the checkpoint is not a tlog-checkpoint (origin, size, root hash)";
        return d;
    }
    d.origin.assign(cp->body.origin.data, cp->body.origin.len);
    d.size = cp->body.size;
    auto log = logs.find(d.origin);
    if (log == logs.end()) {
        d.status = 404;
        d.message = "unknown log origin \"" + d.origin + "\"";
        return d;
    }
    bool signed_ok = false;
    for (int i = 0; i < cp->signature_count && !signed_ok; i++) {
        const ParsedSignature &s = cp->signatures[i];
        if (s.timestamped)
            continue;
        for (const Vkey &k : log->second)
            if (k.type == kTypeEd25519 && s.key_id == k.key_id && same(s.key_name, k.name) &&
                ed25519_verify(k.public_key, cp->text_signed.data, cp->text_signed.len, s.signature)) {
                signed_ok = true;
                break;
            }
    }
    if (!signed_ok) {
        d.status = 403;
        d.message = "no signature on the checkpoint verifies with a key trusted for \"" + d.origin + "\"";
        return d;
    }
    if (req.old_size > cp->body.size) {
        d.status = 400;
        d.message = "old size " + std::to_string(req.old_size) + " is larger than the checkpoint's size " +
                    std::to_string(cp->body.size);
        return d;
    }
    auto st = state.find(d.origin);
    LogState known;
    if (st != state.end())
        known = st->second;
    if (req.old_size != known.size) {
        d.status = 409;
        d.known = known.size;
        d.message = "old size " + std::to_string(req.old_size) + " is not the size of the latest checkpoint cosigned "
                    "for \"" + d.origin + "\", " + std::to_string(known.size);
        return d;
    }
    if (req.old_size == cp->body.size) {
        if (req.proof_len != 0) {
            d.status = 422;
            d.message = "a consistency proof between equal sizes must be empty";
            return d;
        }
        if (st != state.end() && std::memcmp(known.root, cp->body.root, kHashLen) != 0) {
            d.status = 409;
            d.known = known.size;
            d.message = "the checkpoint has the size of the latest one cosigned, " + std::to_string(known.size) +
                        ", but another root hash: the log forked";
            return d;
        }
    } else if (req.old_size == 0) {
        if (req.proof_len != 0) {
            d.status = 422;
            d.message = "the consistency proof from size 0 must be empty";
            return d;
        }
    } else if (!merkle::verify_consistency(h, req.old_size, cp->body.size, known.root, cp->body.root,
                                           reinterpret_cast<const std::uint8_t (*)[kHashLen]>(req.proof), req.proof_len)) {
        d.status = 422;
        d.message = "the consistency proof from " + std::to_string(req.old_size) + " to " +
                    std::to_string(cp->body.size) + " does not verify: the checkpoint does not extend the one cosigned";
        return d;
    }
    d.status = 200;
    d.text_signed = cp->text_signed;
    d.next.size = cp->body.size;
    std::memcpy(d.next.root, cp->body.root, kHashLen);
    d.message = "cosigned \"" + d.origin + "\" at " + std::to_string(cp->body.size) + " (from " +
                std::to_string(req.old_size) + ")";
    return d;
}

std::string format_state(const State &state)
{
    StringSink s;
    s.s = "forgea_audit_witness state v1\n";
    for (const auto &kv : state) {
        s.s += std::to_string(kv.second.size);
        s.s += ' ';
        base64_encode(kv.second.root, kHashLen, s);
        s.s += ' ';
        s.s += kv.first;
        s.s += '\n';
    }
    return s.s;
}

const char *parse_state(const char *text, std::size_t len, State *out)
{
    out->clear();
    static const char kHeader[] = "forgea_audit_witness state v1\n";
    if (len < sizeof kHeader - 1 || std::memcmp(text, kHeader, sizeof kHeader - 1) != 0)
        return "the state file does not start with \"forgea_audit_witness state v1\"";
    std::size_t pos = sizeof kHeader - 1;
    const char *line = nullptr;
    std::size_t n = 0;
    while (take_line(text, len, &pos, &line, &n)) {
        const char *sp1 = static_cast<const char *>(std::memchr(line, ' ', n));
        if (sp1 == nullptr)
            return "a state line is not \"<size> <root> <origin>\"";
        std::size_t rest = n - static_cast<std::size_t>(sp1 + 1 - line);
        const char *sp2 = static_cast<const char *>(std::memchr(sp1 + 1, ' ', rest));
        if (sp2 == nullptr)
            return "a state line is not \"<size> <root> <origin>\"";
        LogState ls;
        if (!parse_decimal(line, static_cast<std::size_t>(sp1 - line), &ls.size))
            return "a state line's size is not a decimal";
        if (base64_decode(sp1 + 1, static_cast<std::size_t>(sp2 - sp1 - 1), ls.root, kHashLen) !=
            static_cast<long>(kHashLen))
            return "a state line's root is not base64 of 32 bytes";
        std::string origin(sp2 + 1, n - static_cast<std::size_t>(sp2 + 1 - line));
        if (origin.empty() || origin.find('\r') != std::string::npos)
            return "a state line's origin is empty";
        if (!out->emplace(origin, ls).second)
            return "an origin appears twice in the state file";
    }
    if (pos != len)
        return "the state file's last line does not end with a newline (cut short)";
    return nullptr;
}

// ---- HTTP/1.1 request head ------------------------------------------------------------------

HeadResult parse_http_head(const char *buf, std::size_t len, HttpHead *out, const char **why)
{
    *out = HttpHead{};
    std::size_t scan = len < kMaxRequestHead ? len : kMaxRequestHead;
    // The end of the head: the first empty line ("\n\n" or "\n\r\n").
    std::size_t end = 0;
    bool found = false;
    for (std::size_t i = 0; i < scan; i++) {
        if (buf[i] != '\n')
            continue;
        if (i + 1 < len && buf[i + 1] == '\n') {
            end = i + 2;
            found = true;
            break;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            end = i + 3;
            found = true;
            break;
        }
    }
    if (!found) {
        if (len >= kMaxRequestHead) {
            *why = "the request head is larger than 8 KiB";
            return HeadResult::kBad;
        }
        return HeadResult::kIncomplete;
    }
    if (end > kMaxRequestHead) {
        *why = "the request head is larger than 8 KiB";
        return HeadResult::kBad;
    }
    out->head_len = end;
    std::size_t pos = 0;
    bool first = true;
    while (pos < end) {
        const char *nl = static_cast<const char *>(std::memchr(buf + pos, '\n', end - pos));
        std::size_t n = static_cast<std::size_t>(nl - (buf + pos));
        const char *line = buf + pos;
        pos += n + 1;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        for (std::size_t i = 0; i < n; i++)
            if (static_cast<unsigned char>(line[i]) < 0x20 && line[i] != '\t') {
                *why = "a control character in the request head";
                return HeadResult::kBad;
            }
        if (first) {
            first = false;
            const char *sp1 = static_cast<const char *>(std::memchr(line, ' ', n));
            const char *sp2 = sp1 ? static_cast<const char *>(std::memchr(sp1 + 1, ' ', n - (sp1 + 1 - line))) : nullptr;
            if (sp1 == nullptr || sp2 == nullptr || sp1 == line || sp2 == sp1 + 1) {
                *why = "the request line is not \"<method> <target> HTTP/1.x\"";
                return HeadResult::kBad;
            }
            std::string version(sp2 + 1, n - static_cast<std::size_t>(sp2 + 1 - line));
            if (version != "HTTP/1.1" && version != "HTTP/1.0") {
                *why = "not an HTTP/1.0 or HTTP/1.1 request";
                return HeadResult::kBad;
            }
            out->method.assign(line, static_cast<std::size_t>(sp1 - line));
            out->target.assign(sp1 + 1, static_cast<std::size_t>(sp2 - sp1 - 1));
            out->keep_alive = version == "HTTP/1.1";
            continue;
        }
        if (n == 0)
            break;
        const char *colon = static_cast<const char *>(std::memchr(line, ':', n));
        if (colon == nullptr || colon == line) {
            *why = "a header line without a name and a colon";
            return HeadResult::kBad;
        }
        std::string name = lower_ascii(line, static_cast<std::size_t>(colon - line));
        const char *v = colon + 1;
        std::size_t vlen = n - static_cast<std::size_t>(v - line);
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
            v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        std::string value = lower_ascii(v, vlen);
        if (name == "content-length") {
            std::int64_t cl = 0;
            if (!parse_decimal(value.data(), value.size(), &cl)) {
                *why = "Content-Length is not a decimal";
                return HeadResult::kBad;
            }
            if (out->content_length >= 0 && out->content_length != cl) {
                *why = "two different Content-Length headers";
                return HeadResult::kBad;
            }
            out->content_length = cl;
        } else if (name == "transfer-encoding") {
            *why = "Transfer-Encoding is not supported (send a Content-Length)";
            return HeadResult::kBad;
        } else if (name == "connection") {
            if (value.find("close") != std::string::npos)
                out->keep_alive = false;
            else if (value.find("keep-alive") != std::string::npos)
                out->keep_alive = true;
        } else if (name == "expect") {
            if (value != "100-continue") {
                *why = "an Expect other than 100-continue";
                return HeadResult::kBad;
            }
            out->expect_continue = true;
        }
    }
    return HeadResult::kDone;
}

}  // namespace forgea::core::witness
