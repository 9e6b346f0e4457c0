// The signature rule for notes checked offline (note_signature.hpp).
#include "note_signature.hpp"

#include <cstdio>
#include <cstring>

#include "ed25519.hpp"

namespace forgea::core {

namespace {

// printf into a std::string (messages of a few hundred bytes).
std::string key_phrase(const NoteKey &key)
{
    char buf[512];
    std::snprintf(buf, sizeof buf, "key \"%s\" (key id %08x)", key.name.c_str(), key.key_id);
    return buf;
}

}  // namespace

NoteKey make_note_key(const std::string &name, const std::uint8_t public_key[32], Hasher &hasher)
{
    NoteKey k;
    k.name = name;
    std::memcpy(k.public_key, public_key, sizeof k.public_key);
    k.key_id = note_key_id(Bytes{k.name.data(), k.name.size()}, k.public_key, hasher);
    return k;
}

NoteVerdict check_note_signature(const ParsedCheckpoint &note, const NotePolicy &policy)
{
    NoteVerdict v;
    v.is_signed = note.signature_count > 0;
    if (policy.key == nullptr) {
        if (v.is_signed) {
            v.outcome = Outcome::kBadInput;
            v.text = "the checkpoint is signed: give the signer's public key with --public-key PUB.pem "
                     "(openssl pkey -in KEY.pem -pubout)";
        } else if (policy.allow_unsigned) {
            v.outcome = Outcome::kOk;
            v.text = "unsigned, accepted with --allow-unsigned: no signature checked";
        } else {
            v.outcome = Outcome::kFailed;
            v.text = "the checkpoint is not signed, so nothing shows the log's key made it (give the log's public key "
                     "with --public-key, or --allow-unsigned to check an unsigned note's content only)";
        }
        return v;
    }
    const NoteKey &key = *policy.key;
    v.outcome = Outcome::kFailed;
    if (!v.is_signed) {
        v.text = "the checkpoint is not signed, but a public key was given to check it: " + key_phrase(key);
        return v;
    }
    for (int k = 0; k < policy.key_count; k++) {
        const NoteKey &kk = policy.key[k];
        for (int i = 0; i < note.signature_count; i++) {
            const ParsedSignature &s = note.signatures[i];
            if (s.timestamped || s.key_id != kk.key_id || s.key_name.len != kk.name.size() ||
                std::memcmp(s.key_name.data, kk.name.data(), kk.name.size()) != 0)
                continue;
            if (ed25519_verify(kk.public_key, note.text_signed.data, note.text_signed.len, s.signature)) {
                v.outcome = Outcome::kOk;
                v.signer = k;
                v.text = "signed by " + key_phrase(kk);
            } else {
                // verify_chain()'s words for the same finding (the tool's verdicts agree with it).
                v.text = "the checkpoint's signature by key \"" + kk.name + "\" does not verify (the note was altered)";
            }
            return v;
        }
    }
    char id[16];
    if (policy.key_count == 1) {
        v.text = "the checkpoint is not signed by the given public key \"" + key.name + "\" (key id ";
        std::snprintf(id, sizeof id, "%08x)", key.key_id);
        v.text += id;
        return v;
    }
    v.text = "the checkpoint is not signed by any of the given public keys \"" + key.name + "\" (key ids ";
    for (int k = 0; k < policy.key_count; k++) {
        std::snprintf(id, sizeof id, "%s%08x", k > 0 ? ", " : "", policy.key[k].key_id);
        v.text += id;
    }
    v.text += ")";
    return v;
}

}  // namespace forgea::core
