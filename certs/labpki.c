/*
 * labpki: a lab manufacturer PKI (root CA, IDevID issuing CA, MASA CA and MASA signing
 * certificate, device IDevIDs) and the owner domain's CA with the registrar's TLS
 * certificate.
 * See certs/labpki.h for the files and profiles.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
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

#include "certs/labpki.h"
#include "certs/pki.h"

#define LAB_ORG		"Latchkey Lab Manufacturer"
#define LAB_ROOT_CN	"Latchkey Lab Manufacturer Root CA"
#define LAB_ICA_CN	"Latchkey Lab Manufacturer IDevID CA"
#define LAB_MASA_CN	"Latchkey Lab MASA"
#define LAB_MASA_CA_CN	"Latchkey Lab MASA CA"
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

/* Signature digest for the signing key: SHA-384 for P-384, none for Ed25519, else SHA-256. */
static const EVP_MD *
lab_md(EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_base_id(key) == EVP_PKEY_ED448)
		return NULL;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC && EVP_PKEY_get_bits(key) >= 384)
		return EVP_sha384();
	return EVP_sha256();
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

static int
lab_cert_sign(X509 *cert, EVP_PKEY *issuer_key, char *err, size_t errlen)
{
	if (X509_sign(cert, issuer_key, lab_md(issuer_key)) <= 0)
		return pki_err(err, errlen, "signing certificate failed");
	return 0;
}

/* Key and certificate for one CA or end entity; on success the caller owns *keyp, *certp. */
static int
lab_issue(struct lab_cert_spec *sp, const char *key_type, X509 *issuer,
    EVP_PKEY *issuer_key, EVP_PKEY **keyp, X509 **certp, char *err, size_t errlen)
{
	EVP_PKEY	*key;
	X509		*cert;

	*keyp = NULL;
	*certp = NULL;
	if ((key = pki_key_new(key_type, err, errlen)) == NULL)
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

/*
 * One device: key, IDevID (802.1AR profile, see labpki.h), its directory and three files.
 * serial is chosen here and is unique among the devices made before it (devs[0..idx)).
 */
static int
lab_device_create(const char *devdir, struct labpki_device *devs, size_t idx,
    const char *masa_url, const char *key_type, X509 *ica, EVP_PKEY *ica_key,
    X509 *masa_ca, char *err, size_t errlen)
{
	struct labpki_device	*dev = &devs[idx];
	struct lab_cert_spec	 sp;
	char			 dir[LABPKI_PATH];
	EVP_PKEY		*key = NULL;
	X509			*cert = NULL, *chain[2];
	size_t			 i;
	int			 tries, rc = -1;

	memset(&sp, 0, sizeof(sp));
	for (tries = 0; tries < 16; tries++) {
		if (lab_device_serial(dev->serial) == -1)
			return pki_errx(err, errlen, "random serial failed");
		for (i = 0; i < idx; i++)
			if (strcmp(devs[i].serial, dev->serial) == 0)
				break;
		if (i == idx && lab_path(dir, devdir, dev->serial, err, errlen) == 0 &&
		    access(dir, F_OK) == -1)
			break;
	}
	if (tries == 16)
		return pki_errx(err, errlen, "%s: cannot find a free device serial", devdir);
	if (mkdir(dir, 0755) == -1 || chmod(dir, 0755) == -1)
		return pki_errx(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
	if (lab_path(dev->cert, dir, "idevid.pem", err, errlen) == -1 ||
	    lab_path(dev->key, dir, "idevid.key", err, errlen) == -1 ||
	    lab_path(dev->masa_anchor, dir, "masa-anchor.pem", err, errlen) == -1)
		return -1;

	if ((key = pki_key_new(key_type, err, errlen)) == NULL)
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
	if (pki_key_write(dev->key, key, 0, err, errlen) == -1 ||
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

void
labpki_result_free(struct labpki_result *res)
{
	if (res == NULL)
		return;
	free(res->devices);
	memset(res, 0, sizeof(*res));
}

/*
 * Make the lab manufacturer PKI under outdir (see labpki.h). Refuses an outdir that already
 * holds manufacturer-ca.key. On failure res is empty, and files written so far stay (err
 * names the step that failed).
 */
int
labpki_create(const char *outdir, unsigned ndevices, const char *masa_url,
    const char *key_type, struct labpki_result *res, char *err, size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 abs[PATH_MAX], devdir[LABPKI_PATH];
	EVP_PKEY		*root_key = NULL, *ica_key = NULL, *masa_key = NULL, *probe;
	EVP_PKEY		*mca_key = NULL;
	X509			*root = NULL, *ica = NULL, *masa = NULL, *mca = NULL, *mchain[2];
	unsigned		 i;
	int			 rc = -1;

	memset(res, 0, sizeof(*res));
	memset(&sp, 0, sizeof(sp));
	ERR_clear_error();
	if (ndevices > LAB_MAX_DEVICES)
		return pki_errx(err, errlen, "too many devices (%u, at most %d)", ndevices,
		    LAB_MAX_DEVICES);
	if (masa_url != NULL && !lab_url_ok(masa_url))
		return pki_errx(err, errlen, "masa url \"%.200s\": not an absolute "
		    "printable-ASCII URI", masa_url);
	/* Fail on a bad key type before touching the file system. */
	if ((probe = pki_key_new(key_type, err, errlen)) == NULL)
		return -1;
	EVP_PKEY_free(probe);
	if (lab_outdir(outdir, abs, err, errlen) == -1)
		return -1;
	if (lab_path(res->manufacturer_ca, abs, "manufacturer-ca.pem", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ca_key, abs, "manufacturer-ca.key", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ica, abs, "manufacturer-ica.pem", err, errlen) == -1 ||
	    lab_path(res->manufacturer_ica_key, abs, "manufacturer-ica.key", err, errlen) == -1 ||
	    lab_path(res->masa_cert, abs, "masa.pem", err, errlen) == -1 ||
	    lab_path(res->masa_key, abs, "masa.key", err, errlen) == -1 ||
	    lab_path(res->masa_ca, abs, "masa-ca.pem", err, errlen) == -1 ||
	    lab_path(res->masa_ca_key, abs, "masa-ca.key", err, errlen) == -1 ||
	    lab_path(devdir, abs, "devices", err, errlen) == -1)
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
	if (lab_issue(&sp, key_type, NULL, NULL, &root_key, &root, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* IDevID issuing CA. */
	if ((sp.subject = lab_name(NULL, LAB_ICA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "IDevID CA subject");
		goto err;
	}
	sp.bc = "critical,CA:TRUE,pathlen:0";
	if (lab_issue(&sp, key_type, root, root_key, &ica_key, &ica, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* MASA CA: the devices' MASA anchor; it issues the MASA signing certificate only. */
	if ((sp.subject = lab_name(NULL, LAB_MASA_CA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "MASA CA subject");
		goto err;
	}
	if (lab_issue(&sp, key_type, root, root_key, &mca_key, &mca, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* MASA signing certificate: KU digitalSignature, no EKU, no serialNumber. */
	if ((sp.subject = lab_name(NULL, LAB_MASA_CN, LAB_ORG)) == NULL) {
		pki_err(err, errlen, "MASA subject");
		goto err;
	}
	sp.bc = "critical,CA:FALSE";
	sp.ku = "critical,digitalSignature";
	if (lab_issue(&sp, key_type, mca, mca_key, &masa_key, &masa, err, errlen) == -1)
		goto err;

	/* Keys first: a second run then stops at the root key check above. */
	mchain[0] = masa;
	mchain[1] = mca;
	if (pki_key_write(res->manufacturer_ca_key, root_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->manufacturer_ca, &root, 1, 0, err, errlen) == -1 ||
	    pki_key_write(res->manufacturer_ica_key, ica_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->manufacturer_ica, &ica, 1, 0, err, errlen) == -1 ||
	    pki_key_write(res->masa_ca_key, mca_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->masa_ca, &mca, 1, 0, err, errlen) == -1 ||
	    pki_key_write(res->masa_key, masa_key, 0, err, errlen) == -1 ||
	    pki_certs_write(res->masa_cert, mchain, 2, 0, err, errlen) == -1)
		goto err;

	if (lab_mkdir(devdir, err, errlen) == -1)
		goto err;
	if (ndevices > 0 &&
	    (res->devices = calloc(ndevices, sizeof(*res->devices))) == NULL) {
		pki_errx(err, errlen, "out of memory");
		goto err;
	}
	for (i = 0; i < ndevices; i++) {
		if (lab_device_create(devdir, res->devices, i, masa_url, key_type, ica,
		    ica_key, mca, err, errlen) == -1)
			goto err;
		res->ndevices = i + 1;
	}
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

/*
 * Registrar SAN: listen_host as iPAddress when it parses as IPv4/IPv6 (brackets allowed),
 * else as dNSName; then dNSName "registrar.<domain>" and "localhost", without duplicates.
 */
static int
lab_registrar_san(X509 *cert, const char *listen_host, const char *regname, char *err,
    size_t errlen)
{
	GENERAL_NAMES	*gens;
	unsigned char	 addr[16];
	char		 host[256];
	size_t		 n;
	int		 rc = -1;

	if ((gens = GENERAL_NAMES_new()) == NULL)
		goto err;
	if (listen_host != NULL && *listen_host != '\0') {
		n = strlen(listen_host);
		if (listen_host[0] == '[' && n > 2 && listen_host[n - 1] == ']')
			snprintf(host, sizeof(host), "%.*s", (int)(n - 2), listen_host + 1);
		else if ((size_t)snprintf(host, sizeof(host), "%s", listen_host) >=
		    sizeof(host)) {
			pki_errx(err, errlen, "listen host too long");
			goto out;
		}
		if (inet_pton(AF_INET, host, addr) == 1) {
			if (lab_san_push(gens, GEN_IPADD, addr, 4) == -1)
				goto err;
		} else if (inet_pton(AF_INET6, host, addr) == 1) {
			if (lab_san_push(gens, GEN_IPADD, addr, 16) == -1)
				goto err;
		} else if (!lab_dns_ok(host)) {
			pki_errx(err, errlen, "listen host \"%.100s\": neither an IP address "
			    "nor a DNS name", host);
			goto out;
		} else if (strcasecmp(host, regname) != 0 && strcasecmp(host, "localhost") != 0) {
			if (lab_san_push(gens, GEN_DNS, (const unsigned char *)host,
			    (int)strlen(host)) == -1)
				goto err;
		}
	}
	if (lab_san_push(gens, GEN_DNS, (const unsigned char *)regname,
	    (int)strlen(regname)) == -1 ||
	    lab_san_push(gens, GEN_DNS, (const unsigned char *)"localhost", 9) == -1)
		goto err;
	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND) != 1)
		goto err;
	rc = 0;
	goto out;
 err:
	pki_err(err, errlen, "registrar subjectAltName failed");
 out:
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * Make the owner domain's CA and the registrar's TLS certificate under dir (see labpki.h).
 * Refuses a dir that already holds domain-ca.key.
 */
int
domainca_create(const char *dir, const char *domain, const char *listen_host,
    const char *key_type, struct domainca_files *out, char *err, size_t errlen)
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
	if (lab_issue(&sp, key_type, NULL, NULL, &ca_key, &ca, err, errlen) == -1)
		goto err;
	X509_NAME_free(sp.subject);

	/* Registrar TLS certificate (tls_key made above). */
	if ((sp.subject = lab_name(NULL, regname, NULL)) == NULL) {
		pki_err(err, errlen, "registrar subject");
		goto err;
	}
	sp.key = tls_key;
	sp.issuer = ca;
	sp.days = LAB_TLS_DAYS;
	sp.bc = "critical,CA:FALSE";
	sp.ku = EVP_PKEY_get_base_id(tls_key) == EVP_PKEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
	sp.eku = LAB_REGISTRAR_EKU;
	if ((tls = lab_cert_new(&sp, err, errlen)) == NULL ||
	    lab_registrar_san(tls, listen_host, regname, err, errlen) == -1 ||
	    lab_cert_sign(tls, ca_key, err, errlen) == -1)
		goto err;

	if (pki_key_write(out->ca_key, ca_key, 0, err, errlen) == -1 ||
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

/*
 * Re-issue dir/registrar.pem under dir/domain-ca.pem + .key (see labpki.h): same subject,
 * subjectAltName and key, a new serial and validity, the registrar's current profile.
 */
int
domainca_reissue_registrar(const char *dir, struct domainca_files *out, char *old,
    size_t oldlen, char *err, size_t errlen)
{
	struct lab_cert_spec	 sp;
	char			 abs[PATH_MAX];
	EVP_PKEY		*ca_key = NULL, *tls_key = NULL;
	X509			*ca = NULL, *cur = NULL, *tls = NULL;
	X509_EXTENSION		*san;
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
	if ((ca = pki_cert_read(out->ca_cert, err, errlen)) == NULL ||
	    (ca_key = pki_key_read(out->ca_key, err, errlen)) == NULL ||
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
	sp.key = tls_key;
	sp.issuer = ca;
	sp.days = LAB_TLS_DAYS;
	sp.bc = "critical,CA:FALSE";
	sp.ku = EVP_PKEY_get_base_id(tls_key) == EVP_PKEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature";
	sp.eku = LAB_REGISTRAR_EKU;
	if ((tls = lab_cert_new(&sp, err, errlen)) == NULL)
		goto err;
	if ((idx = X509_get_ext_by_NID(cur, NID_subject_alt_name, -1)) >= 0 &&
	    ((san = X509_get_ext(cur, idx)) == NULL || !X509_add_ext(tls, san, -1))) {
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
