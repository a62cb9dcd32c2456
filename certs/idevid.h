/*
 * idevid: verification of a device's factory identity (IEEE 802.1AR IDevID) presented as a
 * TLS client certificate, against one or more configured manufacturer trust anchors.
 * Also used (with the domain CA as anchor) to verify LDevIDs for simplereenroll.
 */
#ifndef LATCHKEY_IDEVID_H
#define LATCHKEY_IDEVID_H

#include <stddef.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#include "certs/pki.h"

struct idevid_store;

enum idevid_status {
	IDEVID_OK = 0,
	IDEVID_UNKNOWN_ISSUER,	/* does not chain to any configured anchor (403) */
	IDEVID_EXPIRED,		/* a certificate in the chain is expired or not yet valid (403) */
	IDEVID_REVOKED,		/* listed on a configured CRL (403) */
	IDEVID_NO_SERIAL,	/* no subject serialNumber (403) */
	IDEVID_BAD_PROFILE,	/* not an 802.1AR end-entity DevID: CA:TRUE, keyUsage without
				 * digitalSignature, or EKU without clientAuth (403) */
	IDEVID_INTERNAL
};

struct idevid_info {
	char		serial[PKI_SERIAL_MAX];	/* subject serialNumber */
	char		fingerprint[PKI_FP_LEN];	/* of the leaf */
	char		anchor[256];		/* CN (or one-line subject) of the matched anchor */
	char		anchor_fp[PKI_FP_LEN];	/* fingerprint of the matched anchor */
	char		cert_serial[64];	/* leaf certificate serial, hex */
	unsigned char	*hwmodule_der;		/* owned, may be NULL; idevid_info_free() */
	size_t		hwmodule_len;
};

/* An empty store; add anchors (PEM files, may hold several certs) and CRLs (PEM or DER). */
struct idevid_store *idevid_store_new(void);
int	idevid_store_add_anchor(struct idevid_store *st, const char *path, char *err,
	    size_t errlen);
int	idevid_store_add_crl(struct idevid_store *st, const char *path, char *err, size_t errlen);
void	idevid_store_free(struct idevid_store *st);

/*
 * Verify leaf with the untrusted chain (may be NULL) at the current time; fill info on
 * IDEVID_OK (and serial/fingerprint whenever they could be read, for logging). Besides the
 * path (RFC 5280 §6) and the subject serialNumber, the leaf must have the DevID end-entity
 * profile (IDEVID_BAD_PROFILE otherwise): basicConstraints absent or cA FALSE; keyUsage,
 * when present, with digitalSignature; extendedKeyUsage, when present, with clientAuth.
 * The same rules hold for LDevIDs (certs/ca.c issues CA:FALSE, digitalSignature,
 * clientAuth+serverAuth). The store
 * remembers issuing CAs whose path it verified in full, so later devices of the same issuer
 * cost one signature check; it is not locked: one thread at a time per store.
 */
enum idevid_status idevid_verify(struct idevid_store *st, X509 *leaf, STACK_OF(X509) *chain,
	    struct idevid_info *info, char *err, size_t errlen);
void	idevid_info_free(struct idevid_info *info);
/* How many issuing CAs are remembered as verified, and how many checks they answered. */
void	idevid_store_stats(const struct idevid_store *st, size_t *cached, unsigned long *hits);

#endif
