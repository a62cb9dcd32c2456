/*
 * pki: small X.509 and key helpers shared by the certs/ modules and the programs.
 * See certs/pki.h for the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"

#define PKI_READ_MAX	(1024 * 1024)	/* largest PEM file we read */

int
pki_err(char *err, size_t errlen, const char *fmt, ...)
{
	unsigned long	 e;
	const char	*reason, *data = NULL;
	char		 buf[256];
	size_t		 n;
	int		 flags = 0;
	va_list		 ap;

	e = ERR_peek_last_error_data(&data, &flags);
	if (!(flags & ERR_TXT_STRING) || data == NULL)
		data = "";
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		if (e != 0) {
			reason = ERR_reason_error_string(e);
			if (reason == NULL) {
				ERR_error_string_n(e, buf, sizeof(buf));
				reason = buf;
			}
			n = strlen(err);
			if (n < errlen)
				snprintf(err + n, errlen - n, ": %s%s%s%s", reason,
				    *data != '\0' ? " (" : "", data, *data != '\0' ? ")" : "");
		}
	}
	ERR_clear_error();
	return -1;
}

int
pki_errx(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	ERR_clear_error();
	return -1;
}

/*
 * Software keys prefer the default provider: with a TPM provider loaded first
 * (certs/tpmkey.h) an unqualified fetch would make every new key inside the TPM.
 */
#define PKI_KEYGEN_PROPQ	"?provider=default"

EVP_PKEY *
pki_key_new(const char *type, char *err, size_t errlen)
{
	EVP_PKEY	*key = NULL;

	ERR_clear_error();
	if (type == NULL || strcmp(type, "p256") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "EC", "P-256");
	else if (strcmp(type, "p384") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "EC", "P-384");
	else if (strcmp(type, "ed25519") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "ED25519");
	else if (strcmp(type, "rsa2048") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "RSA", (size_t)2048);
	else if (strcmp(type, "rsa3072") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "RSA", (size_t)3072);
	else if (strcmp(type, "rsa4096") == 0)
		key = EVP_PKEY_Q_keygen(NULL, PKI_KEYGEN_PROPQ, "RSA", (size_t)4096);
	else {
		pki_errx(err, errlen, "unknown key type \"%s\" (p256, p384, ed25519, "
		    "rsa2048, rsa3072, rsa4096)", type);
		return NULL;
	}
	if (key == NULL)
		pki_err(err, errlen, "key generation (%s) failed", type ? type : "p256");
	return key;
}

/* Read a whole bounded file (pki.h). */
unsigned char *
pki_file_read(const char *path, size_t max, size_t *len, char *err, size_t errlen)
{
	unsigned char *buf = NULL, more;
	struct stat sb;
	size_t n = 0, size;
	ssize_t r = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto err;
	}
	if ((uintmax_t)sb.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu octets", path, max);
		goto err;
	}
	size = (size_t)sb.st_size;
	if ((buf = malloc(size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto err;
	}
	while (n < size && (r = read(fd, buf + n, size - n)) > 0)
		n += (size_t)r;
	/* a file that grew while read is refused, not cut */
	if (r == -1 || (n == size && (r = read(fd, &more, 1)) != 0)) {
		snprintf(err, errlen, "%s: %s", path, r == -1 ? strerror(errno) :
		    "changed while read");
		goto err;
	}
	close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
err:
	free(buf);
	close(fd);
	return NULL;
}

/*
 * Write buf to path atomically: a temp file in the same directory gets the final mode before
 * any byte is written, is fsynced, then moved into place. Without overwrite the move is a
 * link(2), which fails with EEXIST instead of replacing a file created meanwhile.
 */
int
pki_file_write(const char *path, const void *buf, size_t len, int mode, int overwrite,
    char *err, size_t errlen)
{
	char		 tmp[4096], dirbuf[4096];
	const char	*p = buf;
	ssize_t		 w;
	int		 fd = -1, dfd, tmp_made = 0;

	if (path == NULL || *path == '\0')
		return pki_errx(err, errlen, "empty path");
	if (!overwrite && access(path, F_OK) == 0)
		return pki_errx(err, errlen, "%s: exists, refusing to overwrite", path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp))
		return pki_errx(err, errlen, "%s: path too long", path);

	if ((fd = mkstemp(tmp)) == -1) {
		pki_errx(err, errlen, "%s: %s", tmp, strerror(errno));
		goto err;
	}
	tmp_made = 1;
	if (fchmod(fd, (mode_t)mode) == -1) {
		pki_errx(err, errlen, "%s: chmod: %s", tmp, strerror(errno));
		goto err;
	}
	while (len > 0) {
		w = write(fd, p, len);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0) {
			pki_errx(err, errlen, "%s: write: %s", tmp,
			    w == -1 ? strerror(errno) : "short write");
			goto err;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1) {
		pki_errx(err, errlen, "%s: fsync: %s", tmp, strerror(errno));
		goto err;
	}
	if (close(fd) == -1) {
		fd = -1;
		pki_errx(err, errlen, "%s: close: %s", tmp, strerror(errno));
		goto err;
	}
	fd = -1;

	if (overwrite) {
		if (rename(tmp, path) == -1) {
			pki_errx(err, errlen, "%s: rename: %s", path, strerror(errno));
			goto err;
		}
	} else {
		if (link(tmp, path) == -1) {
			if (errno == EEXIST)
				pki_errx(err, errlen, "%s: exists, refusing to overwrite", path);
			else
				pki_errx(err, errlen, "%s: %s", path, strerror(errno));
			goto err;
		}
		unlink(tmp);
	}
	tmp_made = 0;

	/* Make the new directory entry durable too. */
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	if ((dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(dfd);
		close(dfd);
	}
	return 0;

 err:
	if (fd != -1)
		close(fd);
	if (tmp_made)
		unlink(tmp);
	return -1;
}

/* Write the contents of a memory BIO to path. */
static int
pki_bio_write(const char *path, BIO *bio, int mode, int overwrite, char *err, size_t errlen)
{
	char	*data;
	long	 n;

	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return pki_err(err, errlen, "%s: nothing to write", path);
	return pki_file_write(path, data, (size_t)n, mode, overwrite, err, errlen);
}

int
pki_key_write(const char *path, EVP_PKEY *key, int overwrite, char *err, size_t errlen)
{
	BIO	*bio;
	int	 rc;

	ERR_clear_error();
	if (key == NULL)
		return pki_errx(err, errlen, "%s: no key", path);
	/* Secure-memory BIO: the PEM copy of the key is cleansed when freed. */
	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		return pki_err(err, errlen, "%s: out of memory", path);
	if (!PEM_write_bio_PKCS8PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		return pki_err(err, errlen, "%s: encoding key failed", path);
	}
	rc = pki_bio_write(path, bio, 0600, overwrite, err, errlen);
	BIO_free(bio);
	return rc;
}

int
pki_certs_write(const char *path, X509 *const *certs, size_t n, int overwrite,
    char *err, size_t errlen)
{
	BIO	*bio;
	size_t	 i;
	int	 rc;

	ERR_clear_error();
	if (n == 0)
		return pki_errx(err, errlen, "%s: no certificates to write", path);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return pki_err(err, errlen, "%s: out of memory", path);
	for (i = 0; i < n; i++) {
		if (certs[i] == NULL || !PEM_write_bio_X509(bio, certs[i])) {
			BIO_free(bio);
			return pki_err(err, errlen, "%s: encoding certificate %zu failed",
			    path, i);
		}
	}
	rc = pki_bio_write(path, bio, 0644, overwrite, err, errlen);
	BIO_free(bio);
	return rc;
}

/*
 * Read a whole file (at most PKI_READ_MAX bytes) into a read-only memory BIO.
 * secure != 0 uses a secure-memory copy for key material.
 */
static BIO *
pki_file_bio(const char *path, int secure, char *err, size_t errlen)
{
	struct stat	 st;
	BIO		*bio = NULL;
	char		*buf = NULL;
	size_t		 len = 0, cap = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		pki_errx(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		pki_errx(err, errlen, "%s: not a regular file", path);
		goto err;
	}
	if (st.st_size > PKI_READ_MAX) {
		pki_errx(err, errlen, "%s: too large (over %d bytes)", path, PKI_READ_MAX);
		goto err;
	}
	cap = (size_t)st.st_size + 1;
	if ((buf = OPENSSL_secure_malloc(cap)) == NULL) {
		pki_errx(err, errlen, "%s: out of memory", path);
		goto err;
	}
	while (len < cap) {
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			pki_errx(err, errlen, "%s: read: %s", path, strerror(errno));
			goto err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len == cap) {
		pki_errx(err, errlen, "%s: changed while reading", path);
		goto err;
	}
	bio = BIO_new(secure ? BIO_s_secmem() : BIO_s_mem());
	if (bio == NULL || (len > 0 && BIO_write(bio, buf, (int)len) != (int)len)) {
		BIO_free(bio);
		bio = NULL;
		pki_err(err, errlen, "%s: out of memory", path);
		goto err;
	}
 err:
	if (buf != NULL)
		OPENSSL_secure_clear_free(buf, cap);
	close(fd);
	return bio;
}

EVP_PKEY *
pki_key_read(const char *path, char *err, size_t errlen)
{
	EVP_PKEY	*key;
	BIO		*bio;

	ERR_clear_error();
	if ((bio = pki_file_bio(path, 1, err, errlen)) == NULL)
		return NULL;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL)
		pki_err(err, errlen, "%s: cannot read private key", path);
	return key;
}

X509 *
pki_cert_read(const char *path, char *err, size_t errlen)
{
	X509	*cert;
	BIO	*bio;

	ERR_clear_error();
	if ((bio = pki_file_bio(path, 0, err, errlen)) == NULL)
		return NULL;
	cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (cert == NULL)
		pki_err(err, errlen, "%s: cannot read certificate", path);
	return cert;
}

STACK_OF(X509) *
pki_certs_read(const char *path, char *err, size_t errlen)
{
	STACK_OF(X509)	*sk = NULL;
	X509		*cert;
	BIO		*bio;
	unsigned long	 e;

	ERR_clear_error();
	if ((bio = pki_file_bio(path, 0, err, errlen)) == NULL)
		return NULL;
	if ((sk = sk_X509_new_null()) == NULL) {
		pki_err(err, errlen, "%s: out of memory", path);
		goto err;
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(sk, cert)) {
			X509_free(cert);
			pki_err(err, errlen, "%s: out of memory", path);
			goto err;
		}
	}
	/* The loop ends on "no start line" at end of input; anything else is an error. */
	e = ERR_peek_last_error();
	if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM &&
	    ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) {
		pki_err(err, errlen, "%s: cannot read certificate %d", path,
		    sk_X509_num(sk) + 1);
		goto err;
	}
	ERR_clear_error();
	if (sk_X509_num(sk) == 0) {
		pki_errx(err, errlen, "%s: no certificates found", path);
		goto err;
	}
	BIO_free(bio);
	return sk;

 err:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(bio);
	return NULL;
}

int
pki_cert_fingerprint(X509 *cert, char out[PKI_FP_LEN])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 n = 0;

	out[0] = '\0';
	if (cert == NULL || !X509_digest(cert, EVP_sha256(), md, &n) || n != 32) {
		ERR_clear_error();
		return -1;
	}
	pki_fingerprint_format(md, out);
	return 0;
}

int
pki_cert_kid(X509 *cert, char *out, size_t outlen)
{
	const ASN1_OCTET_STRING *ski;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const unsigned char *p;
	size_t n;

	if (outlen > 0)
		out[0] = '\0';
	if (cert == NULL)
		return -1;
	if ((ski = X509_get0_subject_key_id(cert)) != NULL) {
		p = ASN1_STRING_get0_data(ski);
		n = (size_t)ASN1_STRING_length(ski);
	} else if (X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen) == 1) {
		p = md;
		n = mdlen;
	} else {
		ERR_clear_error();
		return -1;
	}
	if (n == 0 || 2 * n >= outlen)
		return -1;
	pki_hex_encode(p, n, out);
	return 0;
}

void
pki_hex_encode(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

void
pki_fingerprint_format(const unsigned char raw[32], char out[PKI_FP_LEN])
{
	memcpy(out, "sha256:", 7);
	pki_hex_encode(raw, 32, out + 7);
}

int
pki_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Accepts "sha256:" (any case) + 64 hex digits; ':' may separate whole bytes. */
int
pki_fingerprint_parse(const char *s, unsigned char out[32])
{
	size_t	i = 0;
	int	hi, lo;

	if (s == NULL || strncasecmp(s, "sha256:", 7) != 0)
		return -1;
	s += 7;
	while (*s != '\0') {
		if (*s == ':' && i > 0 && i < 32 && s[-1] != ':' && s[1] != '\0') {
			s++;
			continue;
		}
		if (i == 32 || (hi = pki_hexval((unsigned char)s[0])) < 0 ||
		    (lo = pki_hexval((unsigned char)s[1])) < 0)
			return -1;
		out[i++] = (unsigned char)(hi << 4 | lo);
		s += 2;
	}
	return i == 32 ? 0 : -1;
}

/* See pki.h: 1 when cert's extendedKeyUsage lists nid, 0 when not or absent, -1 bad. */
int
pki_cert_has_eku(const X509 *cert, int nid)
{
	EXTENDED_KEY_USAGE *eku;
	int crit = -1, i, found = 0;

	if (cert == NULL || nid == NID_undef)
		return -1;
	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
	if (eku == NULL)
		return crit == -1 ? 0 : -1;	/* -1: absent; -2: twice; else undecodable */
	for (i = 0; i < sk_ASN1_OBJECT_num(eku) && !found; i++)
		found = OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

/* RFC 5280 §4.1.2.2: positive, at most 20 octets; 16 random octets, top bit clear. */
int
pki_serial_random(X509 *cert)
{
	unsigned char	 buf[16];
	BIGNUM		*bn = NULL;
	ASN1_INTEGER	*ai = NULL;
	int		 rc = -1;

	if (RAND_bytes(buf, sizeof(buf)) != 1)
		goto err;
	buf[0] &= 0x7f;
	buf[0] |= 0x40;		/* non-zero, always exactly 16 octets in DER */
	if ((bn = BN_bin2bn(buf, sizeof(buf), NULL)) == NULL)
		goto err;
	if ((ai = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
		goto err;
	if (!X509_set_serialNumber(cert, ai))
		goto err;
	rc = 0;
 err:
	if (rc != 0)
		ERR_clear_error();
	ASN1_INTEGER_free(ai);
	BN_free(bn);
	return rc;
}

int
pki_cert_serial_hex(X509 *cert, char *out, size_t outlen)
{
	BIGNUM	*bn = NULL;
	char	*hex = NULL, *p;
	int	 rc = -1;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (cert == NULL)
		return -1;
	if ((bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL)) == NULL)
		goto err;
	if ((hex = BN_bn2hex(bn)) == NULL)
		goto err;
	p = hex;
	if (*p == '-')		/* RFC 5280 forbids it; show it rather than hide it */
		goto err;
	while (p[0] == '0' && p[1] != '\0')
		p++;
	if (strlen(p) >= outlen)
		goto err;
	memcpy(out, p, strlen(p) + 1);
	rc = 0;
 err:
	ERR_clear_error();
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

int
pki_name_serial(const X509_NAME *name, char *out, size_t outlen)
{
	const X509_NAME_ENTRY	*ne;
	unsigned char		*utf8 = NULL;
	int			 idx, n;

	if (out == NULL || outlen == 0)
		return -1;
	out[0] = '\0';
	if (name == NULL)
		return -1;
	if ((idx = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1)) < 0)
		return -1;
	ne = X509_NAME_get_entry(name, idx);
	if ((n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne))) < 0) {
		ERR_clear_error();
		return -1;
	}
	if (n == 0 || (size_t)n >= outlen || memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_free(utf8);
		return -1;
	}
	memcpy(out, utf8, (size_t)n);
	out[n] = '\0';
	OPENSSL_free(utf8);
	return 0;
}

int
pki_cert_hwmodule(X509 *cert, unsigned char **der, size_t *len)
{
	GENERAL_NAMES		*gens;
	const GENERAL_NAME	*gen;
	const ASN1_STRING	*seq;
	ASN1_OBJECT		*oid = NULL;
	int			 crit = -1, i, rc = 1;

	*der = NULL;
	*len = 0;
	if (cert == NULL)
		return -1;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL) {
		ERR_clear_error();
		return crit == -1 ? 1 : -1;	/* absent vs. duplicated or undecodable */
	}
	if ((oid = OBJ_txt2obj(PKI_OID_HWMODULENAME, 1)) == NULL) {
		rc = -1;
		goto done;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		gen = sk_GENERAL_NAME_value(gens, i);
		if (gen->type != GEN_OTHERNAME ||
		    OBJ_cmp(gen->d.otherName->type_id, oid) != 0)
			continue;
		/* RFC 4108 §5: HardwareModuleName is a SEQUENCE. */
		if (gen->d.otherName->value == NULL ||
		    gen->d.otherName->value->type != V_ASN1_SEQUENCE) {
			rc = -1;
			goto done;
		}
		seq = gen->d.otherName->value->value.sequence;
		if (seq == NULL || ASN1_STRING_length(seq) <= 0 ||
		    (*der = OPENSSL_memdup(ASN1_STRING_get0_data(seq),
		    (size_t)ASN1_STRING_length(seq))) == NULL) {
			rc = -1;
			goto done;
		}
		*len = (size_t)ASN1_STRING_length(seq);
		rc = 0;
		break;
	}
 done:
	ERR_clear_error();
	ASN1_OBJECT_free(oid);
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * DER of HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER,
 * hwSerialNum OCTET STRING } (RFC 4108 §5). Caller frees *out with OPENSSL_free.
 */
static int
pki_hwmodule_der(const char *hwtype_oid, const char *hwserial, unsigned char **out,
    int *outlen)
{
	ASN1_OBJECT		*obj = NULL;
	ASN1_OCTET_STRING	*os = NULL;
	unsigned char		*buf = NULL, *p;
	int			 l1, l2, total, rc = -1;

	if ((obj = OBJ_txt2obj(hwtype_oid, 1)) == NULL)
		goto err;
	if ((os = ASN1_OCTET_STRING_new()) == NULL ||
	    !ASN1_OCTET_STRING_set(os, (const unsigned char *)hwserial,
	    (int)strlen(hwserial)))
		goto err;
	if ((l1 = i2d_ASN1_OBJECT(obj, NULL)) <= 0 ||
	    (l2 = i2d_ASN1_OCTET_STRING(os, NULL)) <= 0)
		goto err;
	if ((total = ASN1_object_size(1, l1 + l2, V_ASN1_SEQUENCE)) <= 0)
		goto err;
	if ((buf = OPENSSL_malloc((size_t)total)) == NULL)
		goto err;
	p = buf;
	ASN1_put_object(&p, 1, l1 + l2, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	if (i2d_ASN1_OBJECT(obj, &p) != l1 || i2d_ASN1_OCTET_STRING(os, &p) != l2 ||
	    p - buf != total)
		goto err;
	*out = buf;
	*outlen = total;
	buf = NULL;
	rc = 0;
 err:
	OPENSSL_free(buf);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(obj);
	return rc;
}

/* Appends to an existing SAN extension, or adds a new (non-critical) one. */
int
pki_add_hwmodule_san(X509 *cert, const char *hwtype_oid, const char *hwserial,
    char *err, size_t errlen)
{
	GENERAL_NAMES	*gens = NULL;
	GENERAL_NAME	*gen = NULL;
	ASN1_OBJECT	*typeid = NULL;
	ASN1_TYPE	*val = NULL;
	ASN1_STRING	*seq = NULL;
	unsigned char	*der = NULL;
	int		 derlen = 0, crit = -1, rc = -1;

	ERR_clear_error();
	if (cert == NULL || hwtype_oid == NULL || hwserial == NULL || *hwserial == '\0')
		return pki_errx(err, errlen, "hardwareModuleName: missing argument");
	if (strlen(hwserial) > PKI_SERIAL_MAX)
		return pki_errx(err, errlen, "hardwareModuleName: serial too long");
	if (pki_hwmodule_der(hwtype_oid, hwserial, &der, &derlen) == -1) {
		pki_err(err, errlen, "hardwareModuleName: cannot encode (hwType \"%s\")",
		    hwtype_oid);
		goto err;
	}
	if ((seq = ASN1_STRING_new()) == NULL || !ASN1_STRING_set(seq, der, derlen))
		goto oom;
	if ((val = ASN1_TYPE_new()) == NULL)
		goto oom;
	ASN1_TYPE_set(val, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if ((typeid = OBJ_txt2obj(PKI_OID_HWMODULENAME, 1)) == NULL)
		goto oom;
	if ((gen = GENERAL_NAME_new()) == NULL)
		goto oom;
	if (!GENERAL_NAME_set0_othername(gen, typeid, val))
		goto oom;
	typeid = NULL;
	val = NULL;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit != -1) {
		pki_err(err, errlen, "subjectAltName: existing extension unreadable");
		goto err;
	}
	if (gens == NULL && (gens = GENERAL_NAMES_new()) == NULL)
		goto oom;
	if (!sk_GENERAL_NAME_push(gens, gen))
		goto oom;
	gen = NULL;
	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, crit == 1,
	    crit == -1 ? X509V3_ADD_APPEND : X509V3_ADD_REPLACE) != 1) {
		pki_err(err, errlen, "subjectAltName: cannot add extension");
		goto err;
	}
	rc = 0;
	goto err;
 oom:
	pki_err(err, errlen, "hardwareModuleName: out of memory");
 err:
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(gen);
	ASN1_OBJECT_free(typeid);
	ASN1_TYPE_free(val);
	ASN1_STRING_free(seq);
	OPENSSL_free(der);
	return rc;
}

void
pki_serial_to_hex(const unsigned char *mag, size_t n, char out[64])
{
	static const char digits[] = "0123456789ABCDEF";
	char tmp[2 * PKI_SERIAL_BYTES_MAX + 1];
	size_t i, skip = 0;

	if (n > PKI_SERIAL_BYTES_MAX)
		n = PKI_SERIAL_BYTES_MAX;
	for (i = 0; i < n; i++) {
		tmp[2 * i] = digits[mag[i] >> 4];
		tmp[2 * i + 1] = digits[mag[i] & 0xf];
	}
	tmp[2 * n] = '\0';
	while (skip + 1 < 2 * n && tmp[skip] == '0')
		skip++;
	memcpy(out, tmp + skip, 2 * n - skip + 1);
}

int
pki_serial_from_hex(const char hex[64], unsigned char out[PKI_SERIAL_BYTES_MAX], size_t *olen)
{
	size_t n, i, o = 0;

	n = strnlen(hex, 64);
	if (n == 0 || n == 64)
		return -1;
	for (i = 0; i < n; i++)
		if (pki_hexval((unsigned char)hex[i]) < 0)
			return -1;
	while (n > 1 && hex[0] == '0') {
		hex++;
		n--;
	}
	if ((n + 1) / 2 > PKI_SERIAL_BYTES_MAX)
		return -1;
	i = 0;
	if (n % 2 == 1)
		out[o++] = (unsigned char)pki_hexval((unsigned char)hex[i++]);
	for (; i < n; i += 2)
		out[o++] = (unsigned char)(pki_hexval((unsigned char)hex[i]) << 4 |
		    pki_hexval((unsigned char)hex[i + 1]));
	*olen = o;
	return 0;
}

const EVP_MD *
pki_sig_md(EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448"))
		return NULL;
	if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_bits(key) > 256)
		return EVP_sha384();
	return EVP_sha256();
}
