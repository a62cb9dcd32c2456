/*
 * ca: the domain CA's certificate work — LDevID issuance (802.1AR profile); CRLs are crl.h.
 * Only the signer process (signer.c) and benchmarks call ca_issue_ldevid() with the CA key;
 * network-facing code goes through signer_issue().
 *
 * LDevID profile: version 3, random 128-bit serial, issuer = CA subject, notBefore = now - 5
 * min, notAfter = now + lifetime_days, subject serialNumber=<device serial> + CN=<device
 * serial>, SAN hardwareModuleName copied verbatim from hwmodule_der (omitted when NULL),
 * basicConstraints CA:FALSE (critical), KU digitalSignature (critical), EKU clientAuth +
 * serverAuth and never id-kp-cmcRA (only the registrar's certificate names that purpose:
 * DESIGN.md "Trust model", RFC 8995 §5.5; tests/unit/test_ca.c checks it), SKI, AKI keyid, CRL distribution point crl_url and AIA OCSP ocsp_url when set.
 * Signature: ECDSA with SHA-256 (P-256 CA) or SHA-384 (P-384), Ed25519 pure.
 */
#ifndef LATCHKEY_CA_H
#define LATCHKEY_CA_H

#include <stddef.h>
#include <openssl/types.h>

#define CA_URL_MAX 512

struct ca_profile {
	unsigned	lifetime_days;		/* default 365 */
	char		crl_url[CA_URL_MAX];	/* "" = none */
	char		ocsp_url[CA_URL_MAX];	/* "" = none */
	int		retired;		/* 1: a CA rolled over; its signer issues
						   nothing, only CRLs, OCSP answers */
};

/*
 * Build and sign an LDevID for the public key spki_der (DER SubjectPublicKeyInfo, already
 * checked by csr_check()). The key's parameters are copied into the certificate directly
 * (X509_PUBKEY_get0_param/set0_param), not decoded and re-encoded. Returns the new cert or NULL.
 * The result is meant to be encoded (i2d_X509): since its public key was never decoded,
 * X509_get0_pubkey() and X509_verify_cert() on this in-memory object fail; d2i its DER to get
 * a fully usable X509.
 */
X509	*ca_issue_ldevid(X509 *ca_cert, EVP_PKEY *ca_key, const struct ca_profile *prof,
	    const unsigned char *spki_der, size_t spki_len, const char *device_serial,
	    const unsigned char *hwmodule_der, size_t hwmodule_len, char *err, size_t errlen);

/*
 * The one rule for device keys, shared by csr_check() and ca_issue_ldevid(): EC P-256 or
 * P-384 (named curve), Ed25519, RSA 2048..16384 bits. On success desc (may be NULL) gets
 * "P-256", "P-384", "Ed25519" or "RSA-<bits>" and 0 is returned; otherwise -1 and err.
 */
int	ca_key_allowed(const X509_PUBKEY *pub, char *desc, size_t desclen, char *err,
	    size_t errlen);

/* ca_key_allowed() for a key already decoded from pub (NULL: it did not decode). */
int	ca_key_check(const X509_PUBKEY *pub, EVP_PKEY *key, char *desc, size_t desclen,
	    char *err, size_t errlen);

/*
 * pub's key as an EVP_PKEY, the allowed EC and Ed25519 keys imported from their parameters
 * instead of through OpenSSL 3.0's decoders (see ca.c). NULL when it does not decode; the
 * caller frees the key.
 */
EVP_PKEY	*ca_key_decode(const X509_PUBKEY *pub);

#endif
