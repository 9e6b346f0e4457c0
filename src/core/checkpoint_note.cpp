#include "checkpoint_note.hpp"

#include <cstdio>
#include <cstring>

#include "base64.hpp"
#include "push_rules.hpp"

namespace forgea::core {

namespace {

constexpr char kRootDomain[] = "forgea_audit checkpoint v1\n";
constexpr char kEmDash[] = "\xE2\x80\x94";  // U+2014, the C2SP signature line prefix

void put_be(ByteSink &out, std::uint64_t v, int bytes)
{
    std::uint8_t b[8];
    for (int i = bytes - 1; i >= 0; i--) {
        b[i] = static_cast<std::uint8_t>(v);
        v >>= 8;
    }
    out.put(b, static_cast<std::size_t>(bytes));
}

void put_line_int(ByteSink &out, const char *prefix, std::int64_t v)
{
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%s%lld\n", prefix, static_cast<long long>(v));
    out.put(buf, static_cast<std::size_t>(n));
}

// Next line of [*pos, end) without its '\n'; false at the end.  The note's last line may lack its
// '\n': a note passed through the shell's $(...) loses its final newline, and nothing is lost with
// it (the signed body ends before the blank line, so its own last '\n' is never the note's last).
bool next_line(const char *text, std::size_t len, std::size_t *pos, Bytes *line)
{
    if (*pos >= len)
        return false;
    const char *start = text + *pos;
    const void *nl = std::memchr(start, '\n', len - *pos);
    std::size_t n = nl == nullptr ? len - *pos : static_cast<std::size_t>(static_cast<const char *>(nl) - start);
    *line = Bytes{start, n};
    *pos += nl == nullptr ? n : n + 1;
    return true;
}

bool starts_with(Bytes line, const char *prefix, Bytes *rest)
{
    std::size_t n = std::strlen(prefix);
    if (line.len < n || std::memcmp(line.data, prefix, n) != 0)
        return false;
    *rest = Bytes{line.data + n, line.len - n};
    return true;
}

}  // namespace

// The root over every head, in chain id order, under a domain prefix: each field length-prefixed
// or fixed-size, so no two head lists encode alike (docs/checkpoints.md, "The root").
void checkpoint_root(const HeadRecord *heads, std::size_t n, Hasher &hasher, std::uint8_t out[kHashLen])
{
    hasher.put(kRootDomain, sizeof kRootDomain - 1);
    for (std::size_t i = 0; i < n; i++) {
        const HeadRecord &h = heads[i];
        put_be(hasher, h.chain_id.len, 4);
        if (h.chain_id.len > 0)
            hasher.put(h.chain_id.data, h.chain_id.len);
        put_be(hasher, static_cast<std::uint64_t>(h.length), 8);
        put_be(hasher, static_cast<std::uint64_t>(h.last_seq), 8);
        hasher.put(h.last_hash, kHashLen);
    }
    hasher.finish(out);
}

// Sealed heads read back from the log are trusted only if they are sorted, hash to the note's root,
// and add up to its size, chain count and last seq: returns why not, or nullptr.
const char *check_sealed_heads(const CheckpointBody &body, const HeadRecord *heads, std::size_t n, Hasher &hasher)
{
    std::int64_t size = 0, max_seq = 0;
    for (std::size_t i = 0; i < n; i++) {
        if (i > 0 && compare_chain_ids(heads[i - 1].chain_id, heads[i].chain_id) >= 0)
            return "the sealed heads are not sorted by chain id";
        size += heads[i].length;
        if (heads[i].last_seq > max_seq)
            max_seq = heads[i].last_seq;
    }
    std::uint8_t root[kHashLen];
    checkpoint_root(heads, n, hasher, root);
    if (std::memcmp(root, body.root, kHashLen) != 0)
        return "the sealed heads do not hash to the checkpoint's root";
    if (size != body.size || static_cast<std::int64_t>(n) != body.chains || max_seq != body.max_seq)
        return "the checkpoint's size, chains or seq line does not match its sealed heads";
    return nullptr;
}

// The six body lines of a note, each ending in a newline: what is signed.
void write_checkpoint_body(const CheckpointBody &b, ByteSink &out)
{
    out.put(b.origin.data, b.origin.len);
    out.put_byte('\n');
    put_line_int(out, "", b.size);
    base64_encode(b.root, kHashLen, out);
    out.put_byte('\n');
    put_line_int(out, "seq ", b.max_seq);
    put_line_int(out, "chains ", b.chains);
    put_line_int(out, "time ", b.time_unix_us);
}

// The C2SP tlog checkpoint body of the Merkle tree: origin, tree size, base64 root.
void write_tree_checkpoint_body(Bytes origin, std::int64_t size, const std::uint8_t root[kHashLen], ByteSink &out)
{
    out.put(origin.data, origin.len);
    out.put_byte('\n');
    put_line_int(out, "", size);
    base64_encode(root, kHashLen, out);
    out.put_byte('\n');
}

// The C2SP signed-note key id: the first 4 bytes of SHA-256(name, newline, 0x01, public key), so a
// verifier picks the signature line made by the key it holds.
std::uint32_t note_key_id(Bytes key_name, const std::uint8_t public_key[32], Hasher &hasher)
{
    hasher.put(key_name.data, key_name.len);
    hasher.put_byte('\n');
    hasher.put_byte(0x01);  // signature type: Ed25519
    hasher.put(public_key, 32);
    std::uint8_t digest[kHashLen];
    hasher.finish(digest);
    return (static_cast<std::uint32_t>(digest[0]) << 24) | (static_cast<std::uint32_t>(digest[1]) << 16) |
           (static_cast<std::uint32_t>(digest[2]) << 8) | digest[3];
}

// One signature line: em dash, the key name, base64 of key id and signature.
void write_signature_line(Bytes key_name, std::uint32_t key_id, const std::uint8_t signature[64], ByteSink &out)
{
    std::uint8_t blob[68];
    blob[0] = static_cast<std::uint8_t>(key_id >> 24);
    blob[1] = static_cast<std::uint8_t>(key_id >> 16);
    blob[2] = static_cast<std::uint8_t>(key_id >> 8);
    blob[3] = static_cast<std::uint8_t>(key_id);
    std::memcpy(blob + 4, signature, 64);
    out.put(kEmDash, sizeof kEmDash - 1);
    out.put_byte(' ');
    out.put(key_name.data, key_name.len);
    out.put_byte(' ');
    base64_encode(blob, sizeof blob, out);
    out.put_byte('\n');
}

// One cosignature line: em dash, the witness's name, base64 of key id, timestamp and signature.
void write_cosignature_line(Bytes key_name, std::uint32_t key_id, std::uint64_t timestamp,
                            const std::uint8_t signature[64], ByteSink &out)
{
    std::uint8_t blob[76];
    for (int i = 0; i < 4; i++)
        blob[i] = static_cast<std::uint8_t>(key_id >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        blob[4 + i] = static_cast<std::uint8_t>(timestamp >> (56 - 8 * i));
    std::memcpy(blob + 12, signature, 64);
    out.put(kEmDash, 3);
    out.put_byte(' ');
    out.put(key_name.data, key_name.len);
    out.put_byte(' ');
    base64_encode(blob, sizeof blob, out);
    out.put_byte('\n');
}

// Parses a note line by line, strictly (a changed byte must not parse into the same note): returns
// what is wrong in words, or nullptr; out points into text.
const char *parse_checkpoint(const char *text, std::size_t len, ParsedCheckpoint *out)
{
    *out = ParsedCheckpoint{};
    std::size_t pos = 0;
    Bytes line, rest;

    if (!next_line(text, len, &pos, &line) || line.len == 0)
        return "the first line (the origin) is missing";
    out->body.origin = line;
    if (!next_line(text, len, &pos, &line) || !parse_int64(line.data, line.len, &out->body.size) || out->body.size < 0)
        return "the second line is not a row count";
    if (!next_line(text, len, &pos, &line) || base64_decode(line.data, line.len, out->body.root, kHashLen) != kHashLen)
        return "the third line is not a base64 SHA-256 root";

    bool have_seq = false, have_chains = false, have_time = false;
    bool saw_v1_line = false;  // a malformed "seq"/"chains" line still makes it a 0.1.0 note
    std::size_t body_end = len;  // an unsigned note is all body
    for (;;) {
        std::size_t line_start = pos;
        if (!next_line(text, len, &pos, &line))
            break;
        if (line.len == 0) {
            body_end = line_start;  // the blank line before the signatures
            break;
        }
        if (starts_with(line, "seq ", &rest)) {
            saw_v1_line = true;
            have_seq = parse_int64(rest.data, rest.len, &out->body.max_seq);
        } else if (starts_with(line, "chains ", &rest)) {
            saw_v1_line = true;
            have_chains = parse_int64(rest.data, rest.len, &out->body.chains);
        }
        else if (starts_with(line, "time ", &rest))
            have_time = parse_int64(rest.data, rest.len, &out->body.time_unix_us);
        // other extension lines are allowed and signed, but carry nothing this version reads
    }
    // No seq and no chains line: a transparency-log note, whose extension lines (a time, or
    // anything later versions add) carry nothing the proofs need.  Either one: a 0.1.0 note,
    // which needs all three.
    if (!have_seq && !have_chains && !saw_v1_line)
        out->body.tree = true;
    else if (!have_seq || !have_chains || !have_time)
        return "the \"seq\", \"chains\" and \"time\" lines are missing or malformed";
    // The signed text is the body, up to and including its last '\n'.
    out->text_signed = Bytes{text, body_end};

    while (next_line(text, len, &pos, &line)) {
        if (line.len == 0)
            continue;
        if (!starts_with(line, kEmDash, &rest) || rest.len < 2 || rest.data[0] != ' ')
            return "a line after the blank line is not a signature line";
        rest = Bytes{rest.data + 1, rest.len - 1};
        const char *space = static_cast<const char *>(std::memchr(rest.data, ' ', rest.len));
        if (space == nullptr)
            return "a signature line has no key name";
        if (out->signature_count == ParsedCheckpoint::kMaxSignatures)
            return "too many signature lines";
        ParsedSignature &sig = out->signatures[out->signature_count++];
        sig.key_name = Bytes{rest.data, static_cast<std::size_t>(space - rest.data)};
        std::uint8_t blob[76];
        Bytes b64{space + 1, rest.len - (sig.key_name.len + 1)};
        long n = base64_decode(b64.data, b64.len, blob, sizeof blob);
        if (n != 68 && n != 76)
            return "a signature is not base64 of a 4-byte key id and a 64-byte Ed25519 signature (or a witness's "
                   "timestamped cosignature)";
        sig.key_id = (static_cast<std::uint32_t>(blob[0]) << 24) | (static_cast<std::uint32_t>(blob[1]) << 16) |
                     (static_cast<std::uint32_t>(blob[2]) << 8) | blob[3];
        sig.timestamped = n == 76;
        if (sig.timestamped) {
            for (int i = 0; i < 8; i++)
                sig.timestamp = (sig.timestamp << 8) | blob[4 + i];
            if (sig.timestamp >> 63 != 0)
                return "a cosignature's timestamp exceeds 2^63 - 1";
        }
        std::memcpy(sig.signature, blob + (sig.timestamped ? 12 : 4), 64);
    }
    return nullptr;
}

}  // namespace forgea::core
