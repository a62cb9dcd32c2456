/*
 * csr: checks on a PKCS#10 request received over EST (RFC 7030 §4.2.1, RFC 2986).
 *
 * csr_check() parses DER (bounded by len), verifies the self-signature (proof of possession),
 * checks the key is allowed (EC P-256/P-384, Ed25519, RSA >= 2048), and extracts the subject
 * serialNumber, the challengePassword (1.2.840.113549.1.9.7; any of the DirectoryString /
 * PrintableString / UTF8String encodings RFC 2985 allows) and the DER SubjectPublicKeyInfo.
 * Returns CSR_OK or the first failed check; err says which in one line.
 */
#ifndef LATCHKEY_CSR_H
#define LATCHKEY_CSR_H

#include <stddef.h>

enum csr_status {
	CSR_OK = 0,
	CSR_BAD_DER,		/* not a PKCS#10 request (HTTP 400) */
	CSR_BAD_SIGNATURE,	/* self-signature does not verify (400) */
	CSR_WEAK_KEY,		/* key type/size not allowed (400) */
	CSR_INTERNAL		/* out of memory etc. (500) */
};

#define CSR_CHALLENGE_MAX 256

struct csr_info {
	char		serial[64];		/* subject serialNumber, "" if absent */
	char		challenge[CSR_CHALLENGE_MAX];	/* challengePassword, "" if absent */
	int		has_challenge;
	char		key_desc[32];		/* e.g. "P-256", "RSA-3072", "Ed25519" */
	unsigned char	*spki_der;		/* owned; csr_info_free() */
	size_t		spki_len;
};

enum csr_status csr_check(const unsigned char *der, size_t len, struct csr_info *info,
	    char *err, size_t errlen);
void	csr_info_free(struct csr_info *info);

#endif
