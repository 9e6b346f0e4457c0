#include "ed25519.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace forgea::core {

namespace {

void openssl_error(const char *what, char *err, std::size_t errlen)
{
    char detail[256];
    unsigned long code = ERR_get_error();
    if (code != 0)
        ERR_error_string_n(code, detail, sizeof detail);
    else
        std::snprintf(detail, sizeof detail, "no detail");
    std::snprintf(err, errlen, "%s: %s", what, detail);
    ERR_clear_error();
}

// Key files are read whole, never parsed from a FILE*: anything but a small regular file is refused
// before a byte is read (a FIFO or a device would block the reader, in the backend with locks held
// and out of reach of statement_timeout and pg_terminate_backend).
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

// OpenSSL's passphrase callback: there is nobody to ask (the server has no terminal; OpenSSL's
// default would prompt on it), so it refuses, and says that it was asked.
int refuse_passphrase(char *, int, int, void *asked)
{
    *static_cast<bool *>(asked) = true;
    return -1;
}

// Opens path without blocking (O_NONBLOCK: a FIFO with no writer does not hang the open), checks
// that it is a regular file of at most kMaxKeyFileBytes and reads it into buf.  On failure returns
// false with a message that says what is wrong with the path.
bool read_key_file(const char *path, unsigned char *buf, std::size_t *len, char *err, std::size_t errlen)
{
    int fd = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            std::snprintf(err, errlen, "\"%s\" does not exist", path);
        else if (e == EACCES)
            std::snprintf(err, errlen, "\"%s\" is not readable by the server's operating system user (permission denied)", path);
        else
            std::snprintf(err, errlen, "could not open \"%s\": %s", path, std::strerror(e));
        return false;
    }
    struct stat st;
    bool ok = false;
    if (::fstat(fd, &st) != 0) {
        std::snprintf(err, errlen, "could not stat \"%s\": %s", path, std::strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        std::snprintf(err, errlen, "\"%s\" is a directory, not a key file", path);
    } else if (S_ISFIFO(st.st_mode)) {
        std::snprintf(err, errlen, "\"%s\" is a FIFO (named pipe), not a regular file: refused, reading it could block", path);
    } else if (!S_ISREG(st.st_mode)) {
        std::snprintf(err, errlen, "\"%s\" is not a regular file (a device or a socket): refused", path);
    } else if (static_cast<std::size_t>(st.st_size) > kMaxKeyFileBytes) {
        std::snprintf(err, errlen, "\"%s\" is %lld bytes, larger than a key file can be (%zu bytes at most)", path,
                      static_cast<long long>(st.st_size), kMaxKeyFileBytes);
    } else {
        std::size_t n = 0;
        ok = true;
        while (n < kMaxKeyFileBytes) {
            ssize_t r = ::read(fd, buf + n, kMaxKeyFileBytes - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                std::snprintf(err, errlen, "could not read \"%s\": %s", path, std::strerror(errno));
                ok = false;
                break;
            }
            if (r == 0)
                break;
            n += static_cast<std::size_t>(r);
        }
        if (ok && n == kMaxKeyFileBytes) {
            std::snprintf(err, errlen, "\"%s\" grew past %zu bytes while it was read: not a key file", path, kMaxKeyFileBytes);
            ok = false;
        }
        *len = n;
    }
    ::close(fd);
    return ok;
}

// Parses a PEM private key, else a PEM public key, from memory; *asked says whether OpenSSL wanted
// a passphrase (an encrypted key).
EVP_PKEY *parse_pem(const unsigned char *buf, std::size_t len, bool *is_private, bool *asked)
{
    BIO *bio = BIO_new_mem_buf(buf, static_cast<int>(len));
    if (bio == nullptr)
        return nullptr;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, nullptr, refuse_passphrase, asked);
    BIO_free(bio);
    *is_private = pkey != nullptr;
    if (pkey != nullptr || *asked)
        return pkey;
    ERR_clear_error();
    bio = BIO_new_mem_buf(buf, static_cast<int>(len));
    if (bio == nullptr)
        return nullptr;
    pkey = PEM_read_bio_PUBKEY(bio, nullptr, refuse_passphrase, asked);
    BIO_free(bio);
    return pkey;
}

}  // namespace

// A private key file gives both halves, a public key file the public one (has_private says which);
// the file's bytes are wiped and the OpenSSL objects freed before returning, whatever happens.
bool load_ed25519_pem(const char *path, Ed25519Key *key, char *err, std::size_t errlen)
{
    *key = Ed25519Key{};
    static thread_local unsigned char buf[kMaxKeyFileBytes];
    std::size_t len = 0;
    if (!read_key_file(path, buf, &len, err, errlen)) {
        OPENSSL_cleanse(buf, sizeof buf);
        return false;
    }
    bool is_private = false;
    bool asked = false;
    EVP_PKEY *pkey = parse_pem(buf, len, &is_private, &asked);
    OPENSSL_cleanse(buf, len);
    if (pkey == nullptr) {
        if (asked) {
            std::snprintf(err, errlen, "\"%s\" holds an encrypted private key, and the server cannot ask for its "
                          "passphrase: store the key unencrypted (openssl pkey -in %s -out key.pem), readable by the "
                          "server's user only", path, path);
            ERR_clear_error();
        } else {
            char what[1024];
            std::snprintf(what, sizeof what, "\"%s\" holds no PEM key (neither a private nor a public key)", path);
            openssl_error(what, err, errlen);
        }
        return false;
    }
    key->has_private = is_private;
    bool ok = EVP_PKEY_id(pkey) == EVP_PKEY_ED25519;
    if (!ok) {
        std::snprintf(err, errlen, "\"%s\" holds a key of another type than Ed25519", path);
    } else {
        std::size_t n = 32;
        ok = EVP_PKEY_get_raw_public_key(pkey, key->public_key, &n) == 1 && n == 32;
        if (ok && key->has_private) {
            n = 32;
            ok = EVP_PKEY_get_raw_private_key(pkey, key->private_key, &n) == 1 && n == 32;
        }
        if (!ok)
            openssl_error("could not read the raw Ed25519 key", err, errlen);
    }
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

// Signs msg; every OpenSSL object is freed and its error queue cleared before returning, so a
// backend caller holds nothing across its next ereport.
bool ed25519_sign(const Ed25519Key &key, const void *msg, std::size_t len, std::uint8_t sig[64])
{
    if (!key.has_private)
        return false;
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.private_key, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    std::size_t siglen = 64;
    bool ok = pkey != nullptr && ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
              EVP_DigestSign(ctx, sig, &siglen, static_cast<const unsigned char *>(msg), len) == 1 && siglen == 64;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

// Verifies sig over msg with a raw public key; frees everything it made.
bool ed25519_verify(const std::uint8_t public_key[32], const void *msg, std::size_t len, const std::uint8_t sig[64])
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = pkey != nullptr && ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
              EVP_DigestVerify(ctx, sig, 64, static_cast<const unsigned char *>(msg), len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return ok;
}

}  // namespace forgea::core
