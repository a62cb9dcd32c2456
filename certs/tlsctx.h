/*
 * tlsctx: the OpenSSL library context a TLS server's SSL_CTX runs in.
 *
 * libssl decodes each certificate a client sends in its SSL_CTX's library context, and in
 * OpenSSL 3.0 decoding a certificate's public key sets up every decoder the context's
 * providers offer (59 in the default provider; 3.1 caches them): about 100 us of the
 * ~110 us a P-256 certificate takes to parse, twice per enrollment (the IDevID and its
 * issuer). The context returned here holds one provider, "latchkey-tls", which is the
 * default provider itself seen through a narrower window: every operation is the default
 * provider's own algorithm table and provider context (so keys, digests, ciphers, random
 * numbers and TLS groups are exactly the default provider's), except the decoders, of
 * which it offers only those a client certificate's SubjectPublicKeyInfo needs (DER,
 * structure SubjectPublicKeyInfo, the key types a TLS handshake signs with: EC, RSA,
 * RSA-PSS, Ed25519, Ed448): ~45 us per certificate.
 *
 * Objects made elsewhere (keys and certificates read with pki_*) work with an SSL_CTX in
 * this context; OpenSSL exports a key once into this context's key manager and keeps the
 * copy with the key. Files must not be read through such an SSL_CTX
 * (SSL_CTX_use_PrivateKey_file and the like): the PEM and private-key decoders are not here.
 *
 * tlsctx_libctx() makes the context on its first call (not thread-safe: call it before
 * threads) and keeps it for the process lifetime; NULL, with err, if it cannot.
 */
#ifndef LATCHKEY_CERTS_TLSCTX_H
#define LATCHKEY_CERTS_TLSCTX_H

#include <stddef.h>
#include <openssl/types.h>

OSSL_LIB_CTX	*tlsctx_libctx(char *err, size_t errlen);

#endif
