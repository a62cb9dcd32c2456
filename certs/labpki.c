/*
 * labpki: a lab manufacturer PKI (root CA, IDevID issuing CA, MASA CA and MASA signing
 * certificate, device IDevIDs) and the owner domain's CA with the registrar's TLS
 * certificate.
 * See certs/labpki.h for the files and profiles.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/keyref.h"
#include "certs/labpki.h"
#include "certs/pki.h"
#include "certs/tpmkey.h"

#define LAB_ORG		"Latchkey Lab Manufacturer"
#define LAB_ROOT_CN	"Latchkey Lab Manufacturer Root CA"
#define LAB_ICA_CN	"Latchkey Lab Manufacturer IDevID CA"
#define LAB_MASA_CN	"Latchkey Lab MASA"
#define LAB_MASA_CA_CN	"Latchkey Lab MASA CA"
#define LAB_MASA_TLS_CN	"Latchkey Lab MASA TLS"
#define LAB_CA_DAYS	3650
#define LAB_TLS_DAYS	730
/*
 * The registrar: a TLS server to devices, a TLS client of the MASA, and an RA (id-kp-cmcRA,
 * RFC 8995 §5.5, RFC 7030 §3.6.1), which pledges and the MASA require of a registrar.
 */
#define LAB_REGISTRAR_EKU	"serverAuth,clientAuth,cmcRA"
#define LAB_MAX_DEVICES	100000
#define LAB_URL_MAX	2048
#define LAB_DOMAIN_MAX	253
#define LAB_CN_MAX	64	/* RFC 5280 ub-common-name */

/* What lab_cert_new() puts into a certificate besides subject, key and validity. */
struct lab_cert_spec {
	X509_NAME	*subject;
	EVP_PKEY	*key;		/* the subject's key; only its public part is used */
	X509		*issuer;	/* NULL: self-signed */
	int		 days;		/* 0: notAfter 99991231235959Z (802.1AR §8.5) */
	const char	*bc;		/* basicConstraints, OpenSSL extension syntax */
	const char	*ku;		/* keyUsage */
	const char	*eku;		/* extendedKeyUsage, NULL for none */
};

/* A TLS server's leaf (the registrar's, the MASA's) under issuer: not a CA, the key
 * usages its key type can do, eku. The subject is the caller's. */
static void
lab_tls_leaf(struct lab_cert_spec *sp, EVP_PKEY *key, X509 *issuer, const char *eku)
{
	sp->key = key;
	sp->issuer = issuer;
	sp->days = LAB_TLS_DAYS;
	sp->bc = "critical,CA:FALSE";
	sp->ku = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
	sp->eku = eku;
}

/* A name from the given attributes (each may be NULL): serialNumber, CN, O in that order. */
static X509_NAME *
lab_name(const char *serial, const char *cn, const char *org)
{
	X509_NAME	*name;

	if ((name = X509_NAME_new()) == NULL)
		return NULL;
	if (serial != NULL && !X509_NAME_add_entry_by_NID(name, NID_serialNumber,
	    MBSTRING_UTF8, (const unsigned char *)serial, -1, -1, 0))
		goto err;
	if (cn != NULL && !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0))
		goto err;
	if (org != NULL && !X509_NAME_add_entry_by_NID(name, NID_organizationName,
	    MBSTRING_UTF8, (const unsigned char *)org, -1, -1, 0))
		goto err;
	return name;
 err:
	X509_NAME_free(name);
	return NULL;
}

static int
lab_ext_add(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION	*ext;
	int		 ok;

	if ((ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/*
 * An unsigned v3 certificate per sp: random 128-bit serial, notBefore now - 1 h, SKI and
 * AKI keyid. The caller adds any further extensions and signs it with lab_cert_sign().
 */
static X509 *
lab_cert_new(const struct lab_cert_spec *sp, char *err, size_t errlen)
{
	X509		*cert;
	X509V3_CTX	 ctx;
	const char	*what = "certificate";

	if ((cert = X509_new()) == NULL)
		goto err;
	if (!X509_set_version(cert, X509_VERSION_3) || pki_serial_random(cert) == -1 ||
	    !X509_set_subject_name(cert, sp->subject) ||
	    !X509_set_issuer_name(cert, sp->issuer != NULL ?
	    X509_get_subject_name(sp->issuer) : sp->subject) ||
	    !X509_set_pubkey(cert, sp->key))
		goto err;
	what = "validity";
	if (X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL)
		goto err;
	if (sp->days == 0) {
		/* 802.1AR §8.5: no well-defined expiration, GeneralizedTime 99991231235959Z. */
		if (!ASN1_TIME_set_string_X509(X509_getm_notAfter(cert), "99991231235959Z"))
			goto err;
	} else if (X509_time_adj_ex(X509_getm_notAfter(cert), sp->days, 0, NULL) == NULL)
		goto err;

	X509V3_set_ctx(&ctx, sp->issuer != NULL ? sp->issuer : cert, cert, NULL, NULL, 0);
	what = "basicConstraints";
	if (lab_ext_add(cert, &ctx, NID_basic_constraints, sp->bc) == -1)
		goto err;
	what = "keyUsage";
	if (lab_ext_add(cert, &ctx, NID_key_usage, sp->ku) == -1)
		goto err;
	what = "extendedKeyUsage";
	if (sp->eku != NULL && lab_ext_add(cert, &ctx, NID_ext_key_usage, sp->eku) == -1)
		goto err;
	what = "subjectKeyIdentifier";
	if (lab_ext_add(cert, &ctx, NID_subject_key_identifier, "hash") == -1)
		goto err;
	what = "authorityKeyIdentifier";
	if (lab_ext_add(cert, &ctx, NID_authority_key_identifier, "keyid:always") == -1)
		goto err;
	return cert;
 err:
	pki_err(err, errlen, "building %s failed", what);
	X509_free(cert);
	return NULL;
}

/* Every lab signature, under the token's lock when issuer_key is in one (keyref.h). */
static int
lab_cert_sign(X509 *cert, EVP_PKEY *issuer_key, char *err, size_t errlen)
{
	int lk = keyref_lock(issuer_key), ok;

	ok = X509_sign(cert, issuer_key, pki_sig_md(issuer_key)) > 0;
	keyref_unlock(lk);
	return ok ? 0 : pki_err(err, errlen, "signing certificate failed");
}

/*
 * Key and certificate for one CA or end entity; on success the caller owns *keyp, *certp.
 * key_ref NULL: a new key in memory (the caller writes it); a pkcs11: URI: the key pair is
 * generated inside that token (keyref_generate) and never leaves it.
 */
static int
lab_issue_ref(struct lab_cert_spec *sp, const char *key_type, const char *key_ref,
    X509 *issuer, EVP_PKEY *issuer_key, EVP_PKEY **keyp, X509 **certp, char *err,
    size_t errlen)
{
	EVP_PKEY	*key;
	X509		*cert;

	*keyp = NULL;
	*certp = NULL;
	key = key_ref != NULL ? keyref_generate(key_ref, key_type, err, errlen) :
	    pki_key_new(key_type, err, errlen);
	if (key == NULL)
		return -1;
	sp->key = key;
	sp->issuer = issuer;
	if ((cert = lab_cert_new(sp, err, errlen)) == NULL ||
	    lab_cert_sign(cert, issuer_key != NULL ? issuer_key : key, err, errlen) == -1) {
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	*keyp = key;
	*certp = cert;
	return 0;
}

static int
lab_issue(struct lab_cert_spec *sp, const char *key_type, X509 *issuer,
    EVP_PKEY *issuer_key, EVP_PKEY **keyp, X509 **certp, char *err, size_t errlen)
{
	return lab_issue_ref(sp, key_type, NULL, issuer, issuer_key, keyp, certp, err, errlen);
}

/* Create dir (mode 0755, exactly) unless it is already a directory. */
static int
lab_mkdir(const char *dir, char *err, size_t errlen)
{
	struct stat	st;

	if (mkdir(dir, 0755) == 0) {
		if (chmod(dir, 0755) == -1)
			return pki_errx(err, errlen, "%s: chmod: %s", dir, strerror(errno));
		return 0;
	}
	if (errno != EEXIST)
		return pki_errx(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		return pki_errx(err, errlen, "%s: exists and is not a directory", dir);
	return 0;
}

/* dst = "dir/name", with an error when it does not fit. */
static int
lab_path(char dst[LABPKI_PATH], const char *dir, const char *name, char *err, size_t errlen)
{
	if ((size_t)snprintf(dst, LABPKI_PATH, "%s/%s", dir, name) >= LABPKI_PATH)
		return pki_errx(err, errlen, "%s/%s: path too long", dir, name);
	return 0;
}

/* Create dir if needed and put its absolute path into abs. */
static int
lab_outdir(const char *dir, char abs[PATH_MAX], char *err, size_t errlen)
{
	if (dir == NULL || *dir == '\0')
		return pki_errx(err, errlen, "no output directory given");
	if (lab_mkdir(dir, err, errlen) == -1)
		return -1;
	if (realpath(dir, abs) == NULL)
		return pki_errx(err, errlen, "%s: %s", dir, strerror(errno));
	if (strlen(abs) + 64 >= LABPKI_PATH)
		return pki_errx(err, errlen, "%s: path too long", abs);
	return 0;
}

/* A device serial: "LK" + 10 random uppercase hex digits. */
static int
lab_device_serial(char out[64])
{
	static const char	hex[] = "0123456789ABCDEF";
	unsigned char		rnd[5];
	size_t			i;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		ERR_clear_error();
		return -1;
	}
	out[0] = 'L';
	out[1] = 'K';
	for (i = 0; i < sizeof(rnd); i++) {
		out[2 + 2 * i] = hex[rnd[i] >> 4];
		out[2 + 2 * i + 1] = hex[rnd[i] & 0xf];
	}
	out[2 + 2 * sizeof(rnd)] = '\0';
	return 0;
}

/* RFC 8995 §2.3.2: id-pe-masa-url, non-critical, extnValue = DER IA5String of the URI. */
static int
lab_add_masa_url(X509 *cert, const char *url, char *err, size_t errlen)
{
	ASN1_IA5STRING		*ia5 = NULL;
	ASN1_OCTET_STRING	*os = NULL;
	ASN1_OBJECT		*obj = NULL;
	X509_EXTENSION		*ext = NULL;
	unsigned char		*der = NULL;
	int			 derlen, rc = -1;

	if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(ia5, url, (int)strlen(url)))
		goto err;
	if ((derlen = i2d_ASN1_IA5STRING(ia5, &der)) <= 0)
		goto err;
	if ((os = ASN1_OCTET_STRING_new()) == NULL || !ASN1_OCTET_STRING_set(os, der, derlen))
		goto err;
	if ((obj = OBJ_txt2obj(PKI_OID_MASA_URL, 1)) == NULL)
		goto err;
	if ((ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os)) == NULL)
		goto err;
	if (!X509_add_ext(cert, ext, -1))
		goto err;
	rc = 0;
 err:
	if (rc == -1)
		pki_err(err, errlen, "adding masa-url extension failed");
	X509_EXTENSION_free(ext);
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(os);
	OPENSSL_free(der);
	ASN1_IA5STRING_free(ia5);
	return rc;
}

/* An IA5String URI we are willing to embed: printable ASCII, with a scheme. */
static int
lab_url_ok(const char *url)
{
	const char	*p;

	if (url == NULL || *url == '\0' || strlen(url) > LAB_URL_MAX ||
	    strstr(url, "://") == NULL)
		return 0;
	for (p = url; *p != '\0'; p++)
		if (*p <= 0x20 || *p >= 0x7f)
			return 0;
	return 1;
}

/* The files of device dev->serial under devdir; its directory into dir unless NULL. */
static int
lab_device_paths(struct labpki_device *dev, const char *devdir, char dir[LABPKI_PATH],
    char *err, size_t errlen)
{
	char	d[LABPKI_PATH];

	if (lab_path(d, devdir, dev->serial, err, errlen) == -1 ||
	    lab_path(dev->cert, d, "idevid.pem", err, errlen) == -1 ||
	    lab_path(dev->key, d, "idevid.key", err, errlen) == -1 ||
	    lab_path(dev->masa_anchor, d, "masa-anchor.pem", err, errlen) == -1)
		return -1;
	if (dir != NULL)
		memcpy(dir, d, LABPKI_PATH);
	return 0;
}

/*
 * One device: key, IDevID (802.1AR profile, see labpki.h), its directory and three files.
 * The serial is chosen here: one without a directory under devdir, where every device of
 * the lab, made before or by this run, has its own (mkdir refuses a serial taken meanwhile).
 */
static int
lab_device_create(const char *devdir, struct labpki_device *dev, const char *masa_url,
    const char *key_type, int tpm, X509 *ica, EVP_PKEY *ica_key, X509 *masa_ca, char *err,
    size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 dir[LABPKI_PATH];
	EVP_PKEY		*key = NULL;
	X509			*cert = NULL, *chain[2];
	int			 tries, rc = -1;

	memset(&sp, 0, sizeof(sp));
	for (tries = 0; tries < 16; tries++) {
		if (lab_device_serial(dev->serial) == -1)
			return pki_errx(err, errlen, "random serial failed");
		if (lab_path(dir, devdir, dev->serial, err, errlen) == -1)
			return -1;
		if (mkdir(dir, 0755) == 0)
			break;
		if (errno != EEXIST)
			return pki_errx(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
	}
	if (tries == 16)
		return pki_errx(err, errlen, "%s: cannot find a free device serial", devdir);
	if (chmod(dir, 0755) == -1)
		return pki_errx(err, errlen, "%s: chmod: %s", dir, strerror(errno));
	if (lab_device_paths(dev, devdir, NULL, err, errlen) == -1)
		return -1;

	if ((key = tpm ? tpmkey_new_p256(err, errlen) : pki_key_new(key_type, err, errlen)) ==
	    NULL)
		goto err;
	if ((sp.subject = lab_name(dev->serial, dev->serial, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "IDevID %s: subject", dev->serial);
		goto err;
	}
	sp.key = key;
	sp.issuer = ica;
	sp.days = 0;
	sp.bc = "critical,CA:FALSE";
	sp.ku = "critical,digitalSignature";
	sp.eku = "clientAuth";
	if ((cert = lab_cert_new(&sp, err, errlen)) == NULL)
		goto err;
	if (pki_add_hwmodule_san(cert, PKI_OID_LAB_HWTYPE, dev->serial, err, errlen) == -1)
		goto err;
	if (masa_url != NULL && lab_add_masa_url(cert, masa_url, err, errlen) == -1)
		goto err;
	if (lab_cert_sign(cert, ica_key, err, errlen) == -1)
		goto err;

	chain[0] = cert;
	chain[1] = ica;
	if ((tpm ? tpmkey_write(dev->key, key, 0, err, errlen) :
	    pki_key_write(dev->key, key, 0, err, errlen)) == -1 ||
	    pki_certs_write(dev->cert, chain, 2, 0, err, errlen) == -1 ||
	    pki_certs_write(dev->masa_anchor, &masa_ca, 1, 0, err, errlen) == -1)
		goto err;
	rc = 0;
 err:
	X509_NAME_free(sp.subject);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* A DNS name we accept: LDH labels of 1-63 characters and dots, at most 253 in all. */
static int
lab_dns_ok(const char *s)
{
	size_t	n, label = 0;

	if (s == NULL || (n = strlen(s)) == 0 || n > LAB_DOMAIN_MAX || s[0] == '.' ||
	    s[0] == '-' || s[n - 1] == '.' || strstr(s, "..") != NULL)
		return 0;
	for (; *s != '\0'; s++) {
		if (*s == '.') {
			label = 0;
			continue;
		}
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-') || ++label > 63)
			return 0;
	}
	return 1;
}

/*
 * A SAN entry as text: an IPv4 or IPv6 address (IPv6 possibly bracketed) into addr with
 * *alen 4 or 16; anything else *alen 0 (a name, checked by the caller). -1 when bracketed
 * but not an IPv6 address, or too long.
 */
static int
lab_san_addr(const char *s, unsigned char addr[16], int *alen)
{
	char	host[LABPKI_SAN_LEN];
	size_t	n = strlen(s);

	*alen = 0;
	if (n >= sizeof(host))
		return -1;
	if (s[0] == '[') {
		if (n < 3 || s[n - 1] != ']')
			return -1;
		memcpy(host, s + 1, n - 2);
		host[n - 2] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			return -1;
		*alen = 16;
	} else if (inet_pton(AF_INET, s, addr) == 1)
		*alen = 4;
	else if (inet_pton(AF_INET6, s, addr) == 1)
		*alen = 16;
	return 0;
}

static int
lab_addr_zero(const unsigned char *addr, int alen)
{
	int	i;

	for (i = 0; i < alen; i++)
		if (addr[i] != 0)
			return 0;
	return 1;
}

int
labpki_san_check(const char *s, char *err, size_t errlen)
{
	unsigned char	 addr[16];
	const char	*last;
	int		 alen;

	if (s == NULL || *s == '\0')
		return pki_errx(err, errlen, "an empty name");
	if (lab_san_addr(s, addr, &alen) == -1)
		return pki_errx(err, errlen, "\"%.100s\": neither a DNS name nor an IP address",
		    s);
	if (alen > 0) {
		if (lab_addr_zero(addr, alen))
			return pki_errx(err, errlen, "\"%s\" is the unspecified address, which "
			    "names no host: give the names or addresses clients connect to", s);
		return 0;
	}
	if (strchr(s, '*') != NULL)
		return pki_errx(err, errlen, "\"%.100s\": wildcard names are not accepted", s);
	last = strrchr(s, '.');
	last = last != NULL ? last + 1 : s;
	/* RFC 3696 §2: a top-level label is not all digits (a mistyped address, "10.0.0"). */
	if (!lab_dns_ok(s) || strspn(last, "0123456789") == strlen(last))
		return pki_errx(err, errlen, "\"%.100s\": neither a DNS name nor an IP address",
		    s);
	return 0;
}

int
labpki_san_unspecified(const char *s)
{
	unsigned char	addr[16];
	int		alen;

	return s != NULL && lab_san_addr(s, addr, &alen) == 0 && alen > 0 &&
	    lab_addr_zero(addr, alen);
}

int
labpki_san_is_ip(const char *s)
{
	unsigned char	addr[16];
	int		alen;

	return s != NULL && lab_san_addr(s, addr, &alen) == 0 && alen > 0;
}

size_t
labpki_san_local(char names[][LABPKI_SAN_LEN], size_t max)
{
	static const char *const fixed[] = { "localhost", "127.0.0.1", "::1" };
	char	host[LABPKI_SAN_LEN];
	size_t	i, n = 0;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]) && n < max; i++)
		snprintf(names[n++], LABPKI_SAN_LEN, "%s", fixed[i]);
	memset(host, 0, sizeof(host));
	if (n < max && gethostname(host, sizeof(host) - 1) == 0 &&
	    strcasecmp(host, "localhost") != 0 && labpki_san_check(host, NULL, 0) == 0)
		snprintf(names[n++], LABPKI_SAN_LEN, "%s", host);
	return n;
}

static int
lab_san_push(GENERAL_NAMES *gens, int type, const unsigned char *data, int len)
{
	GENERAL_NAME		*gen;
	ASN1_OCTET_STRING	*s;

	if ((gen = GENERAL_NAME_new()) == NULL)
		return -1;
	s = type == GEN_IPADD ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	if (s == NULL || !ASN1_STRING_set(s, data, len)) {
		ASN1_STRING_free(s);
		GENERAL_NAME_free(gen);
		return -1;
	}
	GENERAL_NAME_set0_value(gen, type, s);
	if (!sk_GENERAL_NAME_push(gens, gen)) {
		GENERAL_NAME_free(gen);
		return -1;
	}
	return 0;
}

/* Is (type, data) in gens already? DNS names compare without case. */
static int
lab_san_has(GENERAL_NAMES *gens, int type, const unsigned char *data, int len)
{
	const ASN1_STRING	*v;
	GENERAL_NAME		*g;
	int			 i, t;

	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if ((v = GENERAL_NAME_get0_value(g, &t)) == NULL || t != type ||
		    ASN1_STRING_length(v) != len)
			continue;
		if (type == GEN_DNS ? strncasecmp((const char *)ASN1_STRING_get0_data(v),
		    (const char *)data, (size_t)len) == 0 :
		    memcmp(ASN1_STRING_get0_data(v), data, (size_t)len) == 0)
			return 1;
	}
	return 0;
}

/*
 * Give cert the subjectAltName names[0..n), then extra (may be NULL): IP addresses as
 * iPAddress, anything else as dNSName, each checked by labpki_san_check, duplicates
 * dropped. what names the certificate in err.
 */
static int
lab_san_set(X509 *cert, const char *const *names, size_t n, const char *extra,
    const char *what, char *err, size_t errlen)
{
	GENERAL_NAMES	*gens;
	unsigned char	 addr[16];
	const char	*s;
	char		 why[256];
	size_t		 i;
	int		 alen, type, len, rc = -1;

	if ((gens = GENERAL_NAMES_new()) == NULL)
		goto err;
	for (i = 0; i < n + (extra != NULL); i++) {
		s = i < n ? names[i] : extra;
		if (labpki_san_check(s, why, sizeof(why)) == -1) {
			pki_errx(err, errlen, "%s: %s", what, why);
			goto out;
		}
		(void)lab_san_addr(s, addr, &alen);
		type = alen > 0 ? GEN_IPADD : GEN_DNS;
		len = alen > 0 ? alen : (int)strlen(s);
		if (lab_san_has(gens, type, alen > 0 ? addr : (const unsigned char *)s, len))
			continue;
		if (sk_GENERAL_NAME_num(gens) >= LABPKI_SAN_MAX) {
			pki_errx(err, errlen, "%s: more than %d names", what, LABPKI_SAN_MAX);
			goto out;
		}
		if (lab_san_push(gens, type, alen > 0 ? addr : (const unsigned char *)s,
		    len) == -1)
			goto err;
	}
	if (sk_GENERAL_NAME_num(gens) == 0) {
		pki_errx(err, errlen, "%s: no names", what);
		goto out;
	}
	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1)
		goto err;
	rc = 0;
	goto out;
 err:
	pki_err(err, errlen, "%s failed", what);
 out:
	GENERAL_NAMES_free(gens);
	return rc;
}

int
labpki_cert_san(const char *path, char names[][LABPKI_SAN_LEN], size_t max, size_t *n,
    char *err, size_t errlen)
{
	GENERAL_NAMES		*gens = NULL;
	const ASN1_STRING	*v;
	X509			*cert;
	int			 i, t, af, len, rc = -1;

	*n = 0;
	if ((cert = pki_cert_read(path, err, errlen)) == NULL)
		return -1;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(gens, i), &t);
		len = v != NULL ? ASN1_STRING_length(v) : -1;
		if (*n >= max) {
			pki_errx(err, errlen, "%s: more than %zu subjectAltName entries", path, max);
			goto out;
		}
		if (t == GEN_DNS && len > 0 && len < LABPKI_SAN_LEN &&
		    memchr(ASN1_STRING_get0_data(v), '\0', (size_t)len) == NULL) {
			memcpy(names[*n], ASN1_STRING_get0_data(v), (size_t)len);
			names[(*n)++][len] = '\0';
		} else if (t == GEN_IPADD && (len == 4 || len == 16)) {
			af = len == 4 ? AF_INET : AF_INET6;
			if (inet_ntop(af, ASN1_STRING_get0_data(v), names[*n],
			    LABPKI_SAN_LEN) == NULL)
				goto bad;
			(*n)++;
		} else
			goto bad;
	}
	rc = 0;
	goto out;
 bad:
	pki_errx(err, errlen, "%s: a subjectAltName entry is neither a DNS name nor an IP "
	    "address", path);
 out:
	GENERAL_NAMES_free(gens);
	X509_free(cert);
	return rc;
}

void
labpki_result_free(struct labpki_result *res)
{
	if (res == NULL)
		return;
	free(res->devices);
	memset(res, 0, sizeof(*res));
}

/* Every path of a lab in abs (absolute, checked to leave room) into res, and devdir. */
static int
lab_paths(struct labpki_result *res, const char *abs, char devdir[LABPKI_PATH], char *err,
    size_t errlen)
{
	if ((size_t)snprintf(res->dir, sizeof(res->dir), "%s", abs) >= sizeof(res->dir) ||
	    lab_path(res->manufacturer_ca, abs, "manufacturer-ca.pem", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ca_key, abs, "manufacturer-ca.key", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ica, abs, "manufacturer-ica.pem", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ica_key, abs, "manufacturer-ica.key", err, errlen) == -1 ||
	    lab_path(res->masa_cert, abs, "masa.pem", err, errlen) == -1 ||
	    lab_path(res->masa_key, abs, "masa.key", err, errlen) == -1 ||
	    lab_path(res->masa_ca, abs, "masa-ca.pem", err, errlen) == -1 ||
	    lab_path(res->masa_ca_key, abs, "masa-ca.key", err, errlen) == -1 ||
	    lab_path(res->masa_tls_cert, abs, "masa-tls.pem", err, errlen) == -1 ||
	    lab_path(res->masa_tls_key, abs, "masa-tls.key", err, errlen) == -1 ||
	    lab_path(res->serials, abs, "serials.txt", err, errlen) == -1 ||
	    lab_path(devdir, abs, "devices", err, errlen) == -1)
		return pki_errx(err, errlen, "%s: path too long", abs);
	return 0;
}

/* The host of an absolute URL ("https://[::1]:9443/x" -> "::1"), or -1 when none. */
static int
lab_url_host(const char *url, char *host, size_t hostlen)
{
	const char	*a, *e, *at;
	size_t		 n;

	if ((a = strstr(url, "://")) == NULL)
		return -1;
	a += 3;
	e = a + strcspn(a, "/?#");
	for (at = a; at < e; at++)
		if (*at == '@')
			a = at + 1;
	if (*a == '[') {
		a++;
		for (at = a; at < e && *at != ']'; at++)
			;
		e = at;
	} else
		for (at = a; at < e; at++)
			if (*at == ':') {
				e = at;
				break;
			}
	if ((n = (size_t)(e - a)) == 0 || n >= hostlen)
		return -1;
	memcpy(host, a, n);
	host[n] = '\0';
	return 0;
}

/*
 * masa-tls.pem/.key (labpki.h): the MASA's TLS server certificate under the root, with
 * the SAN opts->masa_san, the host of masa_url, else labpki_san_local()'s names.
 */
static int
lab_masa_tls(struct labpki_result *res, X509 *root, EVP_PKEY *root_key,
    const char *key_type, const struct labpki_opts *o, const char *masa_url, char *err,
    size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 local[4][LABPKI_SAN_LEN], host[LABPKI_SAN_LEN];
	const char		*names[LABPKI_SAN_MAX + 4];
	EVP_PKEY		*key = NULL;
	X509			*cert = NULL;
	size_t			 i, n = 0, nl;
	int			 rc = -1;

	memset(&sp, 0, sizeof(sp));
	if (o->nmasa_san > LABPKI_SAN_MAX)
		return pki_errx(err, errlen, "MASA TLS subjectAltName: more than %d names",
		    LABPKI_SAN_MAX);
	for (i = 0; i < o->nmasa_san; i++)
		names[n++] = o->masa_san[i];
	if (masa_url != NULL && lab_url_host(masa_url, host, sizeof(host)) == 0 &&
	    labpki_san_check(host, NULL, 0) == 0)
		names[n++] = host;
	if (n == 0) {
		nl = labpki_san_local(local, sizeof(local) / sizeof(local[0]));
		for (i = 0; i < nl; i++)
			names[n++] = local[i];
	}
	if ((key = pki_key_new(key_type, err, errlen)) == NULL)
		goto err;
	if ((sp.subject = lab_name(NULL, LAB_MASA_TLS_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "MASA TLS subject");
		goto err;
	}
	lab_tls_leaf(&sp, key, root, "serverAuth");
	if ((cert = lab_cert_new(&sp, err, errlen)) == NULL ||
	    lab_san_set(cert, names, n, NULL, "MASA TLS subjectAltName", err, errlen) == -1 ||
	    lab_cert_sign(cert, root_key, err, errlen) == -1)
		goto err;
	if (pki_key_write(res->masa_tls_key, key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->masa_tls_cert, &cert, 1, 0, err, errlen) == -1)
		goto err;
	res->masa_tls_made = 1;
	rc = 0;
 err:
	X509_NAME_free(sp.subject);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* serials.txt: the serials of res->devices, one a line, replacing the old file. */
static int
lab_serials_write(const struct labpki_result *res, char *err, size_t errlen)
{
	char	*buf;
	size_t	 i, len = 0;
	int	 rc;

	if ((buf = malloc(res->ndevices * 65 + 1)) == NULL)
		return pki_errx(err, errlen, "out of memory");
	for (i = 0; i < res->ndevices; i++)
		len += (size_t)sprintf(buf + len, "%s\n", res->devices[i].serial);
	rc = pki_file_write(res->serials, buf, len, 0644, 1, err, errlen);
	free(buf);
	return rc;
}

/* Make opts->ndevices devices after the res->ndevices there are (room allocated). */
static int
lab_devices_make(struct labpki_result *res, const char *devdir,
    const struct labpki_opts *o, const char *masa_url, const char *key_type, X509 *ica,
    EVP_PKEY *ica_key, X509 *masa_ca, char *err, size_t errlen)
{
	unsigned	i;

	for (i = 0; i < o->ndevices; i++) {
		if (lab_device_create(devdir, &res->devices[res->ndevices], masa_url, key_type,
		    o->tpm_keys, ica, ica_key, masa_ca, err, errlen) == -1)
			return -1;
		res->ndevices++;
		res->nadded++;
		if (o->progress != NULL)
			o->progress(o->progress_arg, i + 1, o->ndevices);
	}
	return 0;
}

int
labpki_create(const char *outdir, unsigned ndevices, const char *masa_url,
    const char *key_type, struct labpki_result *res, char *err, size_t errlen)
{
	struct labpki_opts	o;

	memset(&o, 0, sizeof(o));
	o.ndevices = ndevices;
	o.masa_url = masa_url;
	o.key_type = key_type;
	return labpki_create_opts(outdir, &o, res, err, errlen);
}

/*
 * Make the lab manufacturer PKI under outdir (see labpki.h). Refuses an outdir that already
 * holds manufacturer-ca.key. On failure res is empty, and files written so far stay (err
 * names the step that failed).
 */
int
labpki_create_opts(const char *outdir, const struct labpki_opts *o,
    struct labpki_result *res, char *err, size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 abs[PATH_MAX], devdir[LABPKI_PATH];
	EVP_PKEY		*root_key = NULL, *ica_key = NULL, *masa_key = NULL, *probe;
	EVP_PKEY		*mca_key = NULL;
	X509			*root = NULL, *ica = NULL, *masa = NULL, *mca = NULL, *mchain[2];
	size_t			 i;
	int			 rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&sp, 0, sizeof(sp));
	ERR_clear_error();
	if (o->ndevices > LAB_MAX_DEVICES)
		return pki_errx(err, errlen, "too many devices (%u, at most %d)", o->ndevices,
		    LAB_MAX_DEVICES);
	if (o->masa_url != NULL && !lab_url_ok(o->masa_url))
		return pki_errx(err, errlen, "masa url \"%.200s\": not an absolute "
		    "printable-ASCII URI", o->masa_url);
	for (i = 0; i < o->nmasa_san; i++)
		if (labpki_san_check(o->masa_san[i], err, errlen) == -1)
			return -1;
	/* Fail on a bad key type before touching the file system. */
	if ((probe = pki_key_new(o->key_type, err, errlen)) == NULL)
		return -1;
	EVP_PKEY_free(probe);
	if (lab_outdir(outdir, abs, err, errlen) == -1)
		return -1;
	if (lab_paths(res, abs, devdir, err, errlen) == -1)
		goto err;
	if (access(res->manufacturer_ca_key, F_OK) == 0) {
		pki_errx(err, errlen, "%s: a manufacturer CA already exists here; refusing to "
		    "overwrite its key", res->manufacturer_ca_key);
		goto err;
	}

	/* Root CA, self-signed. */
	if ((sp.subject = lab_name(NULL, LAB_ROOT_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "root CA subject");
		goto err;
	}
	sp.days = LAB_CA_DAYS;
	sp.bc = "critical,CA:TRUE";
	sp.ku = "critical,keyCertSign,cRLSign";
	if (lab_issue(&sp, o->key_type, NULL, NULL, &root_key, &root, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* IDevID issuing CA. */
	if ((sp.subject = lab_name(NULL, LAB_ICA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "IDevID CA subject");
		goto err;
	}
	sp.bc = "critical,CA:TRUE,pathlen:0";
	if (lab_issue(&sp, o->key_type, root, root_key, &ica_key, &ica, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* MASA CA: the devices' MASA anchor; it issues the MASA signing certificate only. */
	if ((sp.subject = lab_name(NULL, LAB_MASA_CA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "MASA CA subject");
		goto err;
	}
	if (lab_issue(&sp, o->key_type, root, root_key, &mca_key, &mca, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* MASA signing certificate: KU digitalSignature, no EKU, no serialNumber. */
	if ((sp.subject = lab_name(NULL, LAB_MASA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "MASA subject");
		goto err;
	}
	sp.bc = "critical,CA:FALSE";
	sp.ku = "critical,digitalSignature";
	if (lab_issue_ref(&sp, o->masa_key_ref != NULL ? NULL : o->key_type, o->masa_key_ref,
	    mca, mca_key, &masa_key, &masa, err, errlen) == -1)
		goto err;
	if (o->masa_key_ref != NULL)	/* in the token: the reference stands for the file */
		snprintf(res->masa_key, sizeof(res->masa_key), "%s", o->masa_key_ref);

	/* Keys first: a second run then stops at the root key check above. */
	mchain[0] = masa;
	mchain[1] = mca;
	if (pki_key_write(res->manufacturer_ca_key, root_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->manufacturer_ca, &root, 1, 0, err, errlen) == -1 ||
	    pki_key_write(res->manufacturer_ica_key, ica_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->manufacturer_ica, &ica, 1, 0, err, errlen) == -1 ||
	    pki_key_write(res->masa_ca_key, mca_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->masa_ca, &mca, 1, 0, err, errlen) == -1 ||
	    (o->masa_key_ref == NULL &&
	    pki_key_write(res->masa_key, masa_key, 0, err, errlen) == -1) ||
	    pki_certs_write(res->masa_cert, mchain, 2, 0, err, errlen) == -1)
		goto err;
	if (lab_masa_tls(res, root, root_key, o->key_type, o, o->masa_url, err, errlen) == -1)
		goto err;

	if (lab_mkdir(devdir, err, errlen) == -1)
		goto err;
	if (o->ndevices > 0 &&
	    (res->devices = calloc(o->ndevices, sizeof(*res->devices))) == NULL) {
		pki_errx(err, errlen, "out of memory");
		goto err;
	}
	if (lab_devices_make(res, devdir, o, o->masa_url, o->key_type, ica, ica_key, mca, err,
	    errlen) == -1 || lab_serials_write(res, err, errlen) == -1)
		goto err;
	rc = 0;
 err:
	if (rc == -1)
		labpki_result_free(res);
	X509_NAME_free(sp.subject);
	X509_free(masa);
	X509_free(mca);
	X509_free(ica);
	X509_free(root);
	EVP_PKEY_free(masa_key);
	EVP_PKEY_free(mca_key);
	EVP_PKEY_free(ica_key);
	EVP_PKEY_free(root_key);
	return rc;
}

/* A device of a lab found on disk: its serial, its place in serials.txt, IDevID time. */
struct lab_found {
	char		serial[PKI_SERIAL_MAX];
	size_t		ord;		/* line in serials.txt; SIZE_MAX when not there */
	struct timespec	mtime;
};

static int
lab_found_by_serial(const void *a, const void *b)
{
	return strcmp(((const struct lab_found *)a)->serial,
	    ((const struct lab_found *)b)->serial);
}

/* serials.txt's order, then the IDevID's time, then the serial. */
static int
lab_found_by_order(const void *a, const void *b)
{
	const struct lab_found	*x = a, *y = b;

	if (x->ord != y->ord)
		return x->ord < y->ord ? -1 : 1;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->serial, y->serial);
}

/* A directory name that can be a device serial (as lab_device_serial and others make). */
static int
lab_serial_name_ok(const char *s)
{
	size_t	n = strlen(s);

	return n > 0 && n < PKI_SERIAL_MAX && s[0] != '.' &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._") == n;
}

/*
 * The complete devices of the lab (a directory under devdir with its three files) in the
 * order of labpki.h: *found (malloc'd) with *n entries.
 */
static int
lab_devices_find(const char *devdir, const char *serials, struct lab_found **found,
    size_t *n, char *err, size_t errlen)
{
	/* idevid.pem last: st is then its status (its time orders the device). */
	static const char *const files[] = { "idevid.key", "masa-anchor.pem", "idevid.pem" };
	struct lab_found	*f = NULL, *nf, key, *hit;
	struct dirent		*de;
	struct stat		 st;
	char			 p[LABPKI_PATH], *line = NULL;
	size_t			 cap = 0, i, ord = 0, linecap = 0;
	ssize_t			 len;
	FILE			*fp;
	DIR			*d;

	*found = NULL;
	*n = 0;
	if ((d = opendir(devdir)) == NULL)
		return pki_errx(err, errlen, "%s: %s", devdir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (!lab_serial_name_ok(de->d_name))
			continue;
		for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			if ((size_t)snprintf(p, sizeof(p), "%s/%s/%s", devdir, de->d_name,
			    files[i]) >= sizeof(p) || stat(p, &st) == -1 ||
			    !S_ISREG(st.st_mode))
				break;
		if (i < sizeof(files) / sizeof(files[0]))
			continue;
		if (*n == LAB_MAX_DEVICES) {
			pki_errx(err, errlen, "%s: more than %d devices", devdir,
			    LAB_MAX_DEVICES);
			goto err;
		}
		if (*n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((nf = reallocarray(f, cap, sizeof(*f))) == NULL) {
				pki_errx(err, errlen, "out of memory");
				goto err;
			}
			f = nf;
		}
		len = (ssize_t)strlen(de->d_name);	/* < the field: lab_serial_name_ok */
		if ((size_t)len >= sizeof(f[*n].serial))
			continue;
		memcpy(f[*n].serial, de->d_name, (size_t)len + 1);
		f[*n].ord = SIZE_MAX;
		f[*n].mtime = st.st_mtim;
		(*n)++;
	}
	closedir(d);
	d = NULL;
	if (*n > 0)
		qsort(f, *n, sizeof(*f), lab_found_by_serial);
	if ((fp = fopen(serials, "r")) != NULL) {
		while ((len = getline(&line, &linecap, fp)) != -1) {
			line[strcspn(line, "\r\n")] = '\0';
			if (*n == 0 || !lab_serial_name_ok(line))
				continue;
			snprintf(key.serial, sizeof(key.serial), "%s", line);
			hit = bsearch(&key, f, *n, sizeof(*f), lab_found_by_serial);
			if (hit != NULL && hit->ord == SIZE_MAX)
				hit->ord = ord++;
		}
		free(line);
		fclose(fp);
	} else if (errno != ENOENT) {
		pki_errx(err, errlen, "%s: %s", serials, strerror(errno));
		goto err;
	}
	if (*n > 0)
		qsort(f, *n, sizeof(*f), lab_found_by_order);
	*found = f;
	return 0;
 err:
	if (d != NULL)
		closedir(d);
	free(f);
	*n = 0;
	return -1;
}

/* The key type name pki_key_new() takes for key, or NULL when it has none. */
static const char *
lab_key_type(EVP_PKEY *key)
{
	int	bits = EVP_PKEY_get_bits(key);

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		return bits == 256 ? "p256" : bits == 384 ? "p384" : NULL;
	case EVP_PKEY_ED25519:
		return "ed25519";
	case EVP_PKEY_RSA:
		return bits == 2048 ? "rsa2048" : bits == 3072 ? "rsa3072" :
		    bits == 4096 ? "rsa4096" : NULL;
	}
	return NULL;
}

/* The id-pe-masa-url of the IDevID in path into out: 0, or -1 when none or unreadable. */
static int
lab_cert_masa_url(const char *path, char *out, size_t outlen)
{
	const ASN1_OCTET_STRING	*os;
	const unsigned char	*p;
	ASN1_IA5STRING		*ia5 = NULL;
	ASN1_OBJECT		*obj;
	X509			*cert;
	int			 idx = -1, rc = -1;

	if ((cert = pki_cert_read(path, NULL, 0)) == NULL)
		return -1;
	if ((obj = OBJ_txt2obj(PKI_OID_MASA_URL, 1)) != NULL)
		idx = X509_get_ext_by_OBJ(cert, obj, -1);
	ASN1_OBJECT_free(obj);
	if (idx >= 0 && (os = X509_EXTENSION_get_data(X509_get_ext(cert, idx))) != NULL) {
		p = ASN1_STRING_get0_data(os);
		if ((ia5 = d2i_ASN1_IA5STRING(NULL, &p, ASN1_STRING_length(os))) != NULL &&
		    (size_t)ASN1_STRING_length(ia5) < outlen) {
			memcpy(out, ASN1_STRING_get0_data(ia5), (size_t)ASN1_STRING_length(ia5));
			out[ASN1_STRING_length(ia5)] = '\0';
			rc = lab_url_ok(out) ? 0 : -1;
		}
	}
	ASN1_IA5STRING_free(ia5);
	X509_free(cert);
	ERR_clear_error();
	return rc;
}

/* Extend the lab in dir (labpki.h). On failure res is empty; devices made so far stay. */
int
labpki_add(const char *dir, const struct labpki_opts *o, struct labpki_result *res,
    char *err, size_t errlen)
{
	struct labpki_device	*dev;
	struct lab_found	*found = NULL;
	char			 abs[PATH_MAX], devdir[LABPKI_PATH], url[LAB_URL_MAX + 1];
	const char		*key_type = o->key_type, *masa_url = o->masa_url;
	EVP_PKEY		*ica_key = NULL, *root_key = NULL, *probe;
	X509			*ica = NULL, *mca = NULL, *root = NULL;
	size_t			 nfound = 0, i;
	int			 tls, rc = -1;

	memset(res, 0, sizeof(*res));
	ERR_clear_error();
	if (o->ndevices > LAB_MAX_DEVICES)
		return pki_errx(err, errlen, "too many devices (%u, at most %d)", o->ndevices,
		    LAB_MAX_DEVICES);
	if (masa_url != NULL && !lab_url_ok(masa_url))
		return pki_errx(err, errlen, "masa url \"%.200s\": not an absolute "
		    "printable-ASCII URI", masa_url);
	for (i = 0; i < o->nmasa_san; i++)
		if (labpki_san_check(o->masa_san[i], err, errlen) == -1)
			return -1;
	if (dir == NULL || realpath(dir, abs) == NULL)
		return pki_errx(err, errlen, "%s: no lab here: %s", dir != NULL ? dir : "(null)",
		    strerror(dir != NULL ? errno : EINVAL));
	if (lab_paths(res, abs, devdir, err, errlen) == -1)
		goto err;
	if (access(res->manufacturer_ica_key, F_OK) == -1) {
		pki_errx(err, errlen, "%s: no lab here (no manufacturer-ica.key)", abs);
		goto err;
	}
	if ((ica = pki_cert_read(res->manufacturer_ica, err, errlen)) == NULL ||
	    (ica_key = pki_key_read(res->manufacturer_ica_key, err, errlen)) == NULL ||
	    (mca = pki_cert_read(res->masa_ca, err, errlen)) == NULL)
		goto err;
	if (X509_check_private_key(ica, ica_key) != 1) {
		pki_errx(err, errlen, "%s does not belong to %s", res->manufacturer_ica_key,
		    res->manufacturer_ica);
		goto err;
	}
	if (key_type == NULL && (key_type = lab_key_type(ica_key)) == NULL) {
		pki_errx(err, errlen, "%s: a key type lab-pki does not make; give one",
		    res->manufacturer_ica_key);
		goto err;
	}
	if ((probe = pki_key_new(key_type, err, errlen)) == NULL)
		goto err;
	EVP_PKEY_free(probe);
	tls = access(res->masa_tls_key, F_OK) == -1 && access(res->masa_tls_cert, F_OK) == -1;
	if (!tls && o->nmasa_san > 0) {
		pki_errx(err, errlen, "%s exists: MASA TLS names are given only for a new one "
		    "(remove masa-tls.pem and masa-tls.key to make another)", res->masa_tls_cert);
		goto err;
	}
	if (tls && ((root = pki_cert_read(res->manufacturer_ca, err, errlen)) == NULL ||
	    (root_key = pki_key_read(res->manufacturer_ca_key, err, errlen)) == NULL))
		goto err;
	if (lab_devices_find(devdir, res->serials, &found, &nfound, err, errlen) == -1)
		goto err;
	if (nfound + o->ndevices > LAB_MAX_DEVICES) {
		pki_errx(err, errlen, "%s: %zu devices and %u more: at most %d in a lab", abs,
		    nfound, o->ndevices, LAB_MAX_DEVICES);
		goto err;
	}
	if (nfound + o->ndevices > 0 && (res->devices = calloc(nfound + o->ndevices,
	    sizeof(*res->devices))) == NULL) {
		pki_errx(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < nfound; i++) {
		dev = &res->devices[res->ndevices++];
		snprintf(dev->serial, sizeof(dev->serial), "%s", found[i].serial);
		if (lab_device_paths(dev, devdir, NULL, err, errlen) == -1)
			goto err;
	}
	if (masa_url == NULL && nfound > 0 &&
	    lab_cert_masa_url(res->devices[0].cert, url, sizeof(url)) == 0)
		masa_url = url;
	if (tls && lab_masa_tls(res, root, root_key, key_type, o, masa_url, err, errlen) == -1)
		goto err;
	if (lab_mkdir(devdir, err, errlen) == -1)
		goto err;
	if (lab_devices_make(res, devdir, o, masa_url, key_type, ica, ica_key, mca, err,
	    errlen) == -1 || lab_serials_write(res, err, errlen) == -1)
		goto err;
	rc = 0;
 err:
	if (rc == -1)
		labpki_result_free(res);
	free(found);
	X509_free(root);
	X509_free(mca);
	X509_free(ica);
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(ica_key);
	return rc;
}

/*
 * Registrar SAN: listen_host (IPv4, IPv6 with or without brackets, or a DNS name), then
 * "registrar.<domain>" and "localhost" (lab_san_set drops duplicates); or, with san, the
 * san entries then "registrar.<domain>".
 */
static int
lab_registrar_san(X509 *cert, const char *listen_host, const char *const *san, size_t nsan,
    const char *regname, char *err, size_t errlen)
{
	const char	*names[3];
	size_t		 n = 0;

	if (san != NULL)
		return lab_san_set(cert, san, nsan, regname, "registrar subjectAltName", err,
		    errlen);
	if (listen_host != NULL && *listen_host != '\0')
		names[n++] = listen_host;
	names[n++] = regname;
	names[n++] = "localhost";
	return lab_san_set(cert, names, n, NULL, "registrar subjectAltName", err, errlen);
}

/*
 * Make the owner domain's CA and the registrar's TLS certificate under dir (see labpki.h),
 * its SAN from listen_host, or san when not NULL (lab_registrar_san). Refuses a dir that
 * already holds domain-ca.key.
 */
static int
lab_domainca(const char *dir, const char *domain, const char *listen_host,
    const char *const *san, size_t nsan, const char *key_type, const char *ca_key_ref,
    struct domainca_files *out, char *err, size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 abs[PATH_MAX], cn[LAB_DOMAIN_MAX + 32];
	char			 regname[LAB_DOMAIN_MAX + 32];
	EVP_PKEY		*ca_key = NULL, *tls_key = NULL;
	X509			*ca = NULL, *tls = NULL;
	int			 rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&sp, 0, sizeof(sp));
	ERR_clear_error();
	if (!lab_dns_ok(domain))
		return pki_errx(err, errlen, "domain \"%.100s\": not a DNS name",
		    domain != NULL ? domain : "");
	snprintf(cn, sizeof(cn), "%s Domain CA", domain);
	snprintf(regname, sizeof(regname), "registrar.%s", domain);
	/* RFC 5280 ub-common-name: "<domain> Domain CA" and "registrar.<domain>" ≤ 64. */
	if (strlen(domain) > LAB_CN_MAX - 10)
		return pki_errx(err, errlen, "domain \"%.100s\": too long for a certificate "
		    "name (at most %d characters)", domain, LAB_CN_MAX - 10);
	if ((tls_key = pki_key_new(key_type, err, errlen)) == NULL)
		return -1;
	if (lab_outdir(dir, abs, err, errlen) == -1)
		goto err;
	if (lab_path(out->ca_cert, abs, "domain-ca.pem", err, errlen) == -1 ||
	    lab_path(out->ca_key, abs, "domain-ca.key", err, errlen) == -1 ||
	    lab_path(out->tls_cert, abs, "registrar.pem", err, errlen) == -1 ||
	    lab_path(out->tls_key, abs, "registrar.key", err, errlen) == -1)
		goto err;
	if (access(out->ca_key, F_OK) == 0) {
		pki_errx(err, errlen, "%s: a domain CA already exists here; refusing to "
		    "overwrite its key", out->ca_key);
		goto err;
	}

	/* Domain CA: issues LDevIDs and the registrar certificate only (pathlen 0). */
	if ((sp.subject = lab_name(NULL, cn, NULL)) == NULL) {
		pki_err(err, errlen, "domain CA subject");
		goto err;
	}
	sp.days = LAB_CA_DAYS;
	sp.bc = "critical,CA:TRUE,pathlen:0";
	sp.ku = "critical,keyCertSign,cRLSign";
	if (lab_issue_ref(&sp, ca_key_ref != NULL ? NULL : key_type, ca_key_ref, NULL, NULL,
	    &ca_key, &ca, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* Registrar TLS certificate (tls_key made above). */
	if ((sp.subject = lab_name(NULL, regname, NULL)) == NULL) {
		pki_err(err, errlen, "registrar subject");
		goto err;
	}
	lab_tls_leaf(&sp, tls_key, ca, LAB_REGISTRAR_EKU);
	if ((tls = lab_cert_new(&sp, err, errlen)) == NULL ||
	    lab_registrar_san(tls, listen_host, san, nsan, regname, err, errlen) == -1 ||
	    lab_cert_sign(tls, ca_key, err, errlen) == -1)
		goto err;

	if (ca_key_ref != NULL)		/* in the token: the reference stands for the file */
		snprintf(out->ca_key, sizeof(out->ca_key), "%s", ca_key_ref);
	if ((ca_key_ref == NULL && pki_key_write(out->ca_key, ca_key, 0, err, errlen) == -1) ||
	    pki_certs_write(out->ca_cert, &ca, 1, 0, err, errlen) == -1 ||
	    pki_key_write(out->tls_key, tls_key, 0, err, errlen) == -1 ||
	    pki_certs_write(out->tls_cert, &tls, 1, 0, err, errlen) == -1)
		goto err;
	rc = 0;
 err:
	if (rc == -1)
		memset(out, 0, sizeof(*out));
	X509_NAME_free(sp.subject);
	X509_free(tls);
	X509_free(ca);
	EVP_PKEY_free(tls_key);
	EVP_PKEY_free(ca_key);
	return rc;
}

int
domainca_create(const char *dir, const char *domain, const char *listen_host,
    const char *key_type, struct domainca_files *out, char *err, size_t errlen)
{
	return lab_domainca(dir, domain, listen_host, NULL, 0, key_type, NULL, out, err, errlen);
}

int
domainca_create_san(const char *dir, const char *domain, const char *const *san,
    size_t nsan, const char *key_type, struct domainca_files *out, char *err, size_t errlen)
{
	return domainca_create_ref(dir, domain, san, nsan, key_type, NULL, out, err, errlen);
}

int
domainca_create_ref(const char *dir, const char *domain, const char *const *san,
    size_t nsan, const char *key_type, const char *ca_key_ref, struct domainca_files *out,
    char *err, size_t errlen)
{
	static const char *const none[1] = { NULL };

	return lab_domainca(dir, domain, NULL, san != NULL ? san : none, san != NULL ? nsan : 0,
	    key_type, ca_key_ref, out, err, errlen);
}

int
domainca_reissue_registrar(const char *dir, struct domainca_files *out, char *old,
    size_t oldlen, char *err, size_t errlen)
{
	return domainca_reissue_registrar_san(dir, NULL, 0, out, old, oldlen, err, errlen);
}

/*
 * Re-issue dir/registrar.pem under dir/domain-ca.pem + .key (see labpki.h): same subject
 * and key, a new serial and validity, the registrar's current profile; the old
 * subjectAltName, or with nsan > 0 san and the subject's CN.
 */
int
domainca_reissue_registrar_san(const char *dir, const char *const *san, size_t nsan,
    struct domainca_files *out, char *old, size_t oldlen, char *err, size_t errlen)
{
	return domainca_reissue_registrar_ref(dir, san, nsan, NULL, out, old, oldlen, err,
	    errlen);
}

int
domainca_reissue_registrar_ref(const char *dir, const char *const *san, size_t nsan,
    const char *ca_key_ref, struct domainca_files *out, char *old, size_t oldlen, char *err,
    size_t errlen)
{
	struct stat		 st;
	struct lab_cert_spec	 sp;
	char			 abs[PATH_MAX], cn[LABPKI_SAN_LEN];
	EVP_PKEY		*ca_key = NULL, *tls_key = NULL;
	X509			*ca = NULL, *cur = NULL, *tls = NULL;
	X509_EXTENSION		*ext;
	int			 idx, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&sp, 0, sizeof(sp));
	ERR_clear_error();
	if (realpath(dir, abs) == NULL)
		return pki_errx(err, errlen, "%s: %s", dir, strerror(errno));
	if (lab_path(out->ca_cert, abs, "domain-ca.pem", err, errlen) == -1 ||
	    lab_path(out->ca_key, abs, "domain-ca.key", err, errlen) == -1 ||
	    lab_path(out->tls_cert, abs, "registrar.pem", err, errlen) == -1 ||
	    lab_path(out->tls_key, abs, "registrar.key", err, errlen) == -1)
		goto err;
	if (ca_key_ref != NULL) {
		/* the CA key in a token: its URI stands where the file's path would */
		keyref_display(ca_key_ref, out->ca_key, sizeof(out->ca_key));
	} else if (stat(out->ca_key, &st) == -1 && errno == ENOENT) {
		pki_errx(err, errlen, "%s: not there (a domain CA key in a PKCS#11 token: give "
		    "its pkcs11: URI)", out->ca_key);
		goto err;
	}
	if ((ca = pki_cert_read(out->ca_cert, err, errlen)) == NULL ||
	    (ca_key = ca_key_ref != NULL ? keyref_load(ca_key_ref, err, errlen) :
	    pki_key_read(out->ca_key, err, errlen)) == NULL ||
	    (cur = pki_cert_read(out->tls_cert, err, errlen)) == NULL ||
	    (tls_key = pki_key_read(out->tls_key, err, errlen)) == NULL)
		goto err;
	if (X509_check_private_key(ca, ca_key) != 1) {
		pki_errx(err, errlen, "%s does not belong to %s", out->ca_key, out->ca_cert);
		goto err;
	}
	if (X509_check_private_key(cur, tls_key) != 1) {
		pki_errx(err, errlen, "%s does not belong to %s", out->tls_key, out->tls_cert);
		goto err;
	}
	if (X509_check_issued(ca, cur) != X509_V_OK || X509_verify(cur,
	    X509_get0_pubkey(ca)) != 1) {
		pki_errx(err, errlen, "%s was not issued by %s", out->tls_cert, out->ca_cert);
		goto err;
	}
	sp.subject = X509_get_subject_name(cur);	/* copied by X509_set_subject_name */
	lab_tls_leaf(&sp, tls_key, ca, LAB_REGISTRAR_EKU);
	if ((tls = lab_cert_new(&sp, err, errlen)) == NULL)
		goto err;
	if (nsan > 0) {
		if (X509_NAME_get_text_by_NID(sp.subject, NID_commonName, cn, sizeof(cn)) <= 0 ||
		    labpki_san_check(cn, NULL, 0) == -1)
			cn[0] = '\0';
		if (lab_san_set(tls, san, nsan, cn[0] != '\0' ? cn : NULL,
		    "registrar subjectAltName", err, errlen) == -1)
			goto err;
	} else if ((idx = X509_get_ext_by_NID(cur, NID_subject_alt_name, -1)) >= 0 &&
	    ((ext = X509_get_ext(cur, idx)) == NULL || !X509_add_ext(tls, ext, -1))) {
		pki_err(err, errlen, "registrar subjectAltName failed");
		goto err;
	}
	if (lab_cert_sign(tls, ca_key, err, errlen) == -1)
		goto err;
	/* Keep the old certificate beside the new one, then replace it atomically. */
	if ((size_t)snprintf(old, oldlen, "%s.old", out->tls_cert) >= oldlen) {
		pki_errx(err, errlen, "%s: path too long", out->tls_cert);
		goto err;
	}
	if (pki_certs_write(old, &cur, 1, 1, err, errlen) == -1 ||
	    pki_certs_write(out->tls_cert, &tls, 1, 1, err, errlen) == -1)
		goto err;
	rc = 0;
 err:
	if (rc == -1) {
		memset(out, 0, sizeof(*out));
		if (oldlen > 0)
			old[0] = '\0';
	}
	X509_free(tls);
	X509_free(cur);
	X509_free(ca);
	EVP_PKEY_free(tls_key);
	EVP_PKEY_free(ca_key);
	return rc;
}

int
domainca_rollover_paths(const char *dir, struct domainca_rollover *out, char *err,
    size_t errlen)
{
	char abs[PATH_MAX];

	memset(out, 0, sizeof(*out));
	if (realpath(dir, abs) == NULL)
		return pki_errx(err, errlen, "%s: %s", dir, strerror(errno));
	if (lab_path(out->ca_cert, abs, "domain-ca.pem", err, errlen) == -1 ||
	    lab_path(out->ca_key, abs, "domain-ca.key", err, errlen) == -1 ||
	    lab_path(out->prev_cert, abs, "domain-ca-previous.pem", err, errlen) == -1 ||
	    lab_path(out->prev_key, abs, "domain-ca-previous.key", err, errlen) == -1 ||
	    lab_path(out->links, abs, "domain-ca-rollover.pem", err, errlen) == -1)
		return -1;
	return 0;
}

/* A link certificate (RFC 4210 §4.4): subject and key sp's, issuer, valid until until. */
static X509 *
lab_link(struct lab_cert_spec *sp, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    const ASN1_TIME *until, char *err, size_t errlen)
{
	X509 *x;

	sp->key = key;
	sp->issuer = issuer;
	if ((x = lab_cert_new(sp, err, errlen)) == NULL)
		return NULL;
	if (!X509_set1_notAfter(x, until)) {
		pki_err(err, errlen, "link certificate validity");
		X509_free(x);
		return NULL;
	}
	if (lab_cert_sign(x, issuer_key, err, errlen) == -1) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int
domainca_rollover(const char *dir, struct domainca_rollover *out, char *err, size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 knew[LABPKI_PATH + 8], cnew[LABPKI_PATH + 8];
	const char		*type;
	EVP_PKEY		*old_key = NULL, *new_key = NULL;
	X509			*old = NULL, *nwn = NULL, *links[2] = { NULL, NULL };
	struct tm		 tm;
	int			 rc = -1;

	memset(&sp, 0, sizeof(sp));
	ERR_clear_error();
	if (domainca_rollover_paths(dir, out, err, errlen) == -1)
		return -1;
	if ((old = pki_cert_read(out->ca_cert, err, errlen)) == NULL ||
	    (old_key = pki_key_read(out->ca_key, err, errlen)) == NULL)
		goto err;
	if (X509_check_private_key(old, old_key) != 1) {
		pki_errx(err, errlen, "%s does not belong to %s", out->ca_key, out->ca_cert);
		goto err;
	}
	if ((type = lab_key_type(old_key)) == NULL) {
		pki_errx(err, errlen, "%s: a key type latchkey does not make", out->ca_key);
		goto err;
	}
	if (pki_cert_kid(old, out->old_kid, sizeof(out->old_kid)) == -1 ||
	    !ASN1_TIME_to_tm(X509_get0_notAfter(old), &tm)) {
		pki_errx(err, errlen, "%s: no key identifier or validity", out->ca_cert);
		goto err;
	}
	out->old_not_after = (long)timegm(&tm);
	if ((new_key = pki_key_new(type, err, errlen)) == NULL)
		goto err;

	/* NewWithNew: the same subject and profile as the domain CA init makes. */
	sp.subject = X509_get_subject_name(old);	/* copied by X509_set_subject_name */
	sp.days = LAB_CA_DAYS;
	sp.bc = "critical,CA:TRUE,pathlen:0";
	sp.ku = "critical,keyCertSign,cRLSign";
	sp.key = new_key;
	sp.issuer = NULL;
	if ((nwn = lab_cert_new(&sp, err, errlen)) == NULL ||
	    lab_cert_sign(nwn, new_key, err, errlen) == -1)
		goto err;
	if (pki_cert_kid(nwn, out->new_kid, sizeof(out->new_kid)) == -1) {
		pki_errx(err, errlen, "the new CA has no key identifier");
		goto err;
	}
	/* NewWithOld, then OldWithNew, both until the old CA expires. */
	if ((links[0] = lab_link(&sp, new_key, old, old_key, X509_get0_notAfter(old), err,
	    errlen)) == NULL ||
	    (links[1] = lab_link(&sp, old_key, nwn, new_key, X509_get0_notAfter(old), err,
	    errlen)) == NULL)
		goto err;

	snprintf(knew, sizeof(knew), "%s.new", out->ca_key);
	snprintf(cnew, sizeof(cnew), "%s.new", out->ca_cert);
	/* The old CA aside first: at every step the domain keeps a usable CA. */
	if (pki_certs_write(out->prev_cert, &old, 1, 1, err, errlen) == -1 ||
	    pki_key_write(out->prev_key, old_key, 1, err, errlen) == -1 ||
	    pki_certs_write(out->links, links, 2, 1, err, errlen) == -1 ||
	    pki_key_write(knew, new_key, 1, err, errlen) == -1 ||
	    pki_certs_write(cnew, &nwn, 1, 1, err, errlen) == -1)
		goto err;
	if (rename(knew, out->ca_key) == -1 || rename(cnew, out->ca_cert) == -1) {
		pki_errx(err, errlen, "%s: %s", out->ca_cert, strerror(errno));
		goto err;
	}
	rc = 0;
 err:
	if (rc == -1) {
		(void)unlink(knew);
		(void)unlink(cnew);
	}
	X509_free(links[0]);
	X509_free(links[1]);
	X509_free(nwn);
	X509_free(old);
	EVP_PKEY_free(new_key);
	EVP_PKEY_free(old_key);
	return rc;
}
