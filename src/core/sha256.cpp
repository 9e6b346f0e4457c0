#include "sha256.hpp"

#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define FA_SHA_NI 1
#endif

namespace forgea::core {

namespace {

alignas(16) constexpr std::uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline std::uint32_t rotr(std::uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

// FIPS 180-4 section 6.2.2, one 64-byte block at a time.
void compress_portable(std::uint32_t s[8], const std::uint8_t *p, std::size_t blocks)
{
    for (; blocks > 0; blocks--, p += 64) {
        std::uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (std::uint32_t(p[4 * i]) << 24) | (std::uint32_t(p[4 * i + 1]) << 16) |
                   (std::uint32_t(p[4 * i + 2]) << 8) | std::uint32_t(p[4 * i + 3]);
        for (int i = 16; i < 64; i++) {
            std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        std::uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
        for (int i = 0; i < 64; i++) {
            std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[i] + w[i];
            std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        s[0] += a;
        s[1] += b;
        s[2] += c;
        s[3] += d;
        s[4] += e;
        s[5] += f;
        s[6] += g;
        s[7] += h;
    }
}

#ifdef FA_SHA_NI
// Rounds 4g..4g+3 of one block on (S0, S1) = (ABEF, CDGH), with the message schedule W[4] (Intel's
// published sequence: four rounds per pair of sha256rnds2, the schedule with sha256msg1/msg2).
#define FA_SHA_GROUP(S0, S1, W, g)                                                                   \
    do {                                                                                             \
        __m128i msg = _mm_add_epi32(W[(g) % 4], _mm_load_si128(reinterpret_cast<const __m128i *>(&kK[4 * (g)]))); \
        S1 = _mm_sha256rnds2_epu32(S1, S0, msg);                                                     \
        if ((g) >= 3 && (g) <= 14) {                                                                 \
            __m128i t = _mm_alignr_epi8(W[(g) % 4], W[((g) + 3) % 4], 4);                            \
            W[((g) + 1) % 4] = _mm_add_epi32(W[((g) + 1) % 4], t);                                   \
            W[((g) + 1) % 4] = _mm_sha256msg2_epu32(W[((g) + 1) % 4], W[(g) % 4]);                   \
        }                                                                                            \
        msg = _mm_shuffle_epi32(msg, 0x0E);                                                          \
        S0 = _mm_sha256rnds2_epu32(S0, S1, msg);                                                     \
        if ((g) >= 1 && (g) <= 12)                                                                   \
            W[((g) + 3) % 4] = _mm_sha256msg1_epu32(W[((g) + 3) % 4], W[(g) % 4]);                   \
    } while (0)
// The 64 rounds of one block.
#define FA_SHA_BLOCK(S0, S1, W)                                                                      \
    do {                                                                                             \
        FA_SHA_GROUP(S0, S1, W, 0); FA_SHA_GROUP(S0, S1, W, 1); FA_SHA_GROUP(S0, S1, W, 2);          \
        FA_SHA_GROUP(S0, S1, W, 3); FA_SHA_GROUP(S0, S1, W, 4); FA_SHA_GROUP(S0, S1, W, 5);          \
        FA_SHA_GROUP(S0, S1, W, 6); FA_SHA_GROUP(S0, S1, W, 7); FA_SHA_GROUP(S0, S1, W, 8);          \
        FA_SHA_GROUP(S0, S1, W, 9); FA_SHA_GROUP(S0, S1, W, 10); FA_SHA_GROUP(S0, S1, W, 11);        \
        FA_SHA_GROUP(S0, S1, W, 12); FA_SHA_GROUP(S0, S1, W, 13); FA_SHA_GROUP(S0, S1, W, 14);       \
        FA_SHA_GROUP(S0, S1, W, 15);                                                                 \
    } while (0)

// The same with the SHA extensions (Intel's published sequence: state as ABEF/CDGH, four rounds
// per pair of sha256rnds2, the message schedule with sha256msg1/msg2).
__attribute__((target("sha,ssse3,sse4.1"))) void compress_ni(std::uint32_t s[8], const std::uint8_t *p,
                                                             std::size_t blocks)
{
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128(reinterpret_cast<const __m128i *>(&s[0]));
    __m128i state1 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(&s[4]));
    tmp = _mm_shuffle_epi32(tmp, 0xB1);           // CDAB
    state1 = _mm_shuffle_epi32(state1, 0x1B);     // EFGH
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8);  // ABEF
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);  // CDGH

    for (; blocks > 0; blocks--, p += 64) {
        __m128i abef = state0, cdgh = state1;
        __m128i w[4];
        for (int i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p + 16 * i)), mask);
        FA_SHA_BLOCK(state0, state1, w);
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);        // FEBA
    state1 = _mm_shuffle_epi32(state1, 0xB1);     // DCHG
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);  // DCBA
    state1 = _mm_alignr_epi8(state1, tmp, 8);     // ABEF
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&s[0]), state0);
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&s[4]), state1);
}

// The state in the order sha256rnds2 wants it (ABEF, CDGH), and back.
__attribute__((target("sha,ssse3,sse4.1"))) inline void to_abef(const std::uint32_t s[8], __m128i *abef, __m128i *cdgh)
{
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(&s[0])), 0xB1);    // CDAB
    __m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(&s[4])), 0x1B);   // EFGH
    *abef = _mm_alignr_epi8(tmp, efgh, 8);
    *cdgh = _mm_blend_epi16(efgh, tmp, 0xF0);
}

__attribute__((target("sha,ssse3,sse4.1"))) inline void from_abef(__m128i abef, __m128i cdgh, std::uint32_t s[8])
{
    __m128i tmp = _mm_shuffle_epi32(abef, 0x1B);  // FEBA
    cdgh = _mm_shuffle_epi32(cdgh, 0xB1);         // DCHG
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&s[0]), _mm_blend_epi16(tmp, cdgh, 0xF0));  // DCBA
    _mm_storeu_si128(reinterpret_cast<__m128i *>(&s[4]), _mm_alignr_epi8(cdgh, tmp, 8));     // ABEF
}

// One block of each of two messages, their rounds interleaved: each block is 32 sha256rnds2 in
// a chain, each waiting for the one before it, so one message leaves the unit idle most of the
// time and a second one, independent, fills it (measured here: 1.8-2.2x the throughput of one
// message after the other; docs/benchmarks.md).
__attribute__((target("sha,ssse3,sse4.1"))) void compress2_ni(std::uint32_t sa[8], const std::uint8_t *pa,
                                                              std::uint32_t sb[8], const std::uint8_t *pb)
{
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i a0, a1, b0, b1;
    to_abef(sa, &a0, &a1);
    to_abef(sb, &b0, &b1);
    __m128i a0_in = a0, a1_in = a1, b0_in = b0, b1_in = b1;
    __m128i w[4], v[4];
    for (int i = 0; i < 4; i++) {
        w[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(pa + 16 * i)), mask);
        v[i] = _mm_shuffle_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i *>(pb + 16 * i)), mask);
    }
#define FA_SHA_GROUP2(g)                 \
    do {                                 \
        FA_SHA_GROUP(a0, a1, w, g);      \
        FA_SHA_GROUP(b0, b1, v, g);      \
    } while (0)
    FA_SHA_GROUP2(0);
    FA_SHA_GROUP2(1);
    FA_SHA_GROUP2(2);
    FA_SHA_GROUP2(3);
    FA_SHA_GROUP2(4);
    FA_SHA_GROUP2(5);
    FA_SHA_GROUP2(6);
    FA_SHA_GROUP2(7);
    FA_SHA_GROUP2(8);
    FA_SHA_GROUP2(9);
    FA_SHA_GROUP2(10);
    FA_SHA_GROUP2(11);
    FA_SHA_GROUP2(12);
    FA_SHA_GROUP2(13);
    FA_SHA_GROUP2(14);
    FA_SHA_GROUP2(15);
#undef FA_SHA_GROUP2
    from_abef(_mm_add_epi32(a0, a0_in), _mm_add_epi32(a1, a1_in), sa);
    from_abef(_mm_add_epi32(b0, b0_in), _mm_add_epi32(b1, b1_in), sb);
}
#undef FA_SHA_BLOCK
#undef FA_SHA_GROUP

// CPUID: SHA (leaf 7, EBX bit 29), SSSE3 and SSE4.1 (leaf 1, ECX bits 9 and 19).
bool cpu_has_sha()
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19)))
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return (b & (1u << 29)) != 0;
}
const bool kHaveSha = cpu_has_sha();
#else
const bool kHaveSha = false;
#endif

bool use_portable = false;

inline void compress(std::uint32_t s[8], const std::uint8_t *p, std::size_t blocks)
{
#ifdef FA_SHA_NI
    if (kHaveSha && !use_portable) {
        compress_ni(s, p, blocks);
        return;
    }
#endif
    compress_portable(s, p, blocks);
}

}  // namespace

bool Sha256::hardware() { return kHaveSha && !use_portable; }

void Sha256::force_portable(bool on) { use_portable = on; }

void Sha256::reset()
{
    static constexpr std::uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::memcpy(state_, kInit, sizeof state_);
    length_ = 0;
    pending_ = 0;
}

// Fills the block buffer; whole blocks of the input go straight to the compression.
void Sha256::put(const void *data, std::size_t len)
{
    const std::uint8_t *p = static_cast<const std::uint8_t *>(data);
    length_ += len;
    if (pending_ > 0) {
        std::size_t take = 64 - pending_ < len ? 64 - pending_ : len;
        std::memcpy(block_ + pending_, p, take);
        pending_ += take;
        p += take;
        len -= take;
        if (pending_ < 64)
            return;
        compress(state_, block_, 1);
        pending_ = 0;
    }
    if (len >= 64) {
        compress(state_, p, len / 64);
        p += len & ~std::size_t(63);
        len &= 63;
    }
    if (len > 0) {
        std::memcpy(block_, p, len);
        pending_ = len;
    }
}

// Pads (0x80, zeros, the bit length big-endian), writes the digest and starts over.
void Sha256::finish(std::uint8_t out[kHashLen])
{
    std::uint64_t bits = length_ * 8;
    block_[pending_++] = 0x80;
    if (pending_ > 56) {
        std::memset(block_ + pending_, 0, 64 - pending_);
        compress(state_, block_, 1);
        pending_ = 0;
    }
    std::memset(block_ + pending_, 0, 56 - pending_);
    for (int i = 0; i < 8; i++)
        block_[56 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
    compress(state_, block_, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = static_cast<std::uint8_t>(state_[i] >> 24);
        out[4 * i + 1] = static_cast<std::uint8_t>(state_[i] >> 16);
        out[4 * i + 2] = static_cast<std::uint8_t>(state_[i] >> 8);
        out[4 * i + 3] = static_cast<std::uint8_t>(state_[i]);
    }
    reset();
}

void sha256(const void *data, std::size_t len, std::uint8_t out[kHashLen])
{
    Sha256 h;
    h.put(data, len);
    h.finish(out);
}

namespace {

// A message as the compression sees it: its whole blocks in place, then one or two blocks of its
// tail, the padding and the bit length.
struct Padded {
    const std::uint8_t *data;
    std::size_t whole;  // blocks in place
    std::size_t blocks; // in all
    std::uint8_t tail[128];
    std::uint32_t state[8];

    Padded(const void *p, std::size_t len)
    {
        static constexpr std::uint32_t kInit[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
        std::memcpy(state, kInit, sizeof state);
        data = static_cast<const std::uint8_t *>(p);
        whole = len / 64;
        std::size_t rest = len % 64;
        std::size_t tail_len = rest + 9 <= 64 ? 64 : 128;
        if (rest > 0)
            std::memcpy(tail, data + whole * 64, rest);
        tail[rest] = 0x80;
        std::memset(tail + rest + 1, 0, tail_len - rest - 1);
        std::uint64_t bits = static_cast<std::uint64_t>(len) * 8;
        for (int i = 0; i < 8; i++)
            tail[tail_len - 8 + i] = static_cast<std::uint8_t>(bits >> (56 - 8 * i));
        blocks = whole + tail_len / 64;
    }
    const std::uint8_t *block(std::size_t i) const { return i < whole ? data + 64 * i : tail + 64 * (i - whole); }
    void digest(std::uint8_t out[kHashLen]) const
    {
        for (int i = 0; i < 8; i++) {
            out[4 * i] = static_cast<std::uint8_t>(state[i] >> 24);
            out[4 * i + 1] = static_cast<std::uint8_t>(state[i] >> 16);
            out[4 * i + 2] = static_cast<std::uint8_t>(state[i] >> 8);
            out[4 * i + 3] = static_cast<std::uint8_t>(state[i]);
        }
    }
};

}  // namespace

// The blocks both messages have go through the interleaved compression, the longer one's rest
// alone.
void sha256_pair(const void *a, std::size_t alen, std::uint8_t outa[kHashLen], const void *b, std::size_t blen,
                 std::uint8_t outb[kHashLen])
{
    Padded x(a, alen), y(b, blen);
    std::size_t both = x.blocks < y.blocks ? x.blocks : y.blocks;
    std::size_t i = 0;
#ifdef FA_SHA_NI
    if (kHaveSha && !use_portable)
        for (; i < both; i++)
            compress2_ni(x.state, x.block(i), y.state, y.block(i));
#endif
    for (std::size_t j = i; j < x.blocks; j++)
        compress(x.state, x.block(j), 1);
    for (std::size_t j = i; j < y.blocks; j++)
        compress(y.state, y.block(j), 1);
    x.digest(outa);
    y.digest(outb);
}

}  // namespace forgea::core
