#include "pg/core_headers.hpp"  // first: see there

#include "pg/sha256.hpp"

// Creates the hash state, in the owner's context for a reusable sink (see the constructor).
void Sha256Sink::start()
{
    MemoryContext old = MemoryContextSwitchTo(owner_ != nullptr ? owner_ : CurrentMemoryContext);
    ctx_ = pg_cryptohash_create(PG_SHA256);
    MemoryContextSwitchTo(old);
    if (ctx_ == nullptr || pg_cryptohash_init(ctx_) < 0)
        ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("could not initialize SHA-256")));
}

// Feeds the cryptohash, creating its state on first use.
void Sha256Sink::update(const void *data, std::size_t len)
{
    if (ctx_ == nullptr)
        start();
    if (pg_cryptohash_update(ctx_, static_cast<const uint8 *>(data), len) < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("could not update SHA-256: %s", pg_cryptohash_error(ctx_))));
}

// Hands the gathered small pieces over in one update.
void Sha256Sink::flush()
{
    if (pending_ > 0)
        update(buf_, pending_);
    pending_ = 0;
}

// Gathers small pieces in buf_; a piece larger than the buffer goes straight to the hash, uncopied.
void Sha256Sink::put(const void *data, std::size_t len)
{
    if (len <= sizeof buf_ - pending_) {
        memcpy(buf_ + pending_, data, len);
        pending_ += len;
        return;
    }
    flush();
    if (len >= sizeof buf_) {
        update(data, len);  // a big piece goes straight through, uncopied
        return;
    }
    memcpy(buf_, data, len);
    pending_ = len;
}

// Writes the digest; a reusable sink re-initialises its state for the next row, any other frees it.
void Sha256Sink::finish(uint8 out[forgea::core::kHashLen])
{
    flush();
    if (ctx_ == nullptr)
        start();
    if (pg_cryptohash_final(ctx_, out, forgea::core::kHashLen) < 0)
        ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR),
                        errmsg("could not finish SHA-256: %s", pg_cryptohash_error(ctx_))));
    if (owner_ != nullptr && pg_cryptohash_init(ctx_) >= 0)
        return;
    release();
}

// Frees the hash state now (the resource owner would at transaction end, with a leak warning).
void Sha256Sink::release()
{
    pending_ = 0;
    if (ctx_ != nullptr)
        pg_cryptohash_free(ctx_);
    ctx_ = nullptr;
}

// One-shot SHA-256 of a buffer.
void sha256_bytes(const void *data, size_t len, uint8 out[forgea::core::kHashLen])
{
    Sha256Sink sink;
    sink.put(data, len);
    sink.finish(out);
}

// A palloc'd bytea copy of data: hashes go to SQL as bytea.
bytea *bytea_from_bytes(const uint8 *data, size_t len)
{
    bytea *b = static_cast<bytea *>(palloc(VARHDRSZ + len));
    SET_VARSIZE(b, VARHDRSZ + len);
    memcpy(VARDATA(b), data, len);
    return b;
}

