/*
 * Unit tests for certs/labpki.c: the lab manufacturer PKI and the domain CA, checked field by
 * field with OpenSSL, plus the refusal to overwrite keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/labpki.h"
#include "certs/pki.h"
#include "tests/unit/testutil.h"

#define MASA_URL	"https://masa.lab.example:9443/.well-known/brski"
#define NDEV		3

struct lab {
	char			dir[64];
	struct labpki_result	res;
};

static int ntmp;
static char tmpdir[64];		/* per-test directory of the second group */

static int
setup_tmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lk-labpki-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	(void)state;
	tu_rmtree(tmpdir);
	return 0;
}

static int
count_tmp(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	if (strstr(path, ".tmp.") != NULL)
		ntmp++;
	return 0;
}

static void
assert_mode(const char *path, mode_t want)
{
	struct stat	st;

	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 07777) != want)
		fail_msg("%s: mode %o, want %o", path, st.st_mode & 07777, want);
}

/* Whole file into a malloc'd buffer. */
static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE		*f;
	unsigned char	*buf;
	long		 n;

	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
ext_critical(X509 *cert, int nid)
{
	int	idx;

	idx = X509_get_ext_by_NID(cert, nid, -1);
	assert_true(idx >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(cert, idx));
}

static void
assert_name_cn(const X509_NAME *name, const char *want)
{
	char	buf[256];

	assert_true(X509_NAME_get_text_by_NID(name, NID_commonName, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, want);
}

/*
 * X509_verify_cert of leaf against anchor with untrusted intermediate (may be NULL);
 * X509_V_OK or the verification error.
 */
static int
chain_ok(X509 *leaf, X509 *inter, X509 *anchor, int purpose)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	STACK_OF(X509)	*untrusted;
	int		 ok;

	assert_non_null(store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(store, anchor), 1);
	assert_non_null(untrusted = sk_X509_new_null());
	if (inter != NULL)
		assert_true(sk_X509_push(untrusted, inter) > 0);
	assert_non_null(ctx = X509_STORE_CTX_new());
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
	if (purpose != 0)
		X509_STORE_CTX_set_purpose(ctx, purpose);
	ok = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	if (ok == X509_V_OK)
		assert_int_equal(X509_STORE_CTX_get_error(ctx), X509_V_OK);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

/* leaf (with inter, may be NULL, untrusted) against anchor alone, as a partial chain. */
static int
partial_chain_ok(X509 *leaf, X509 *inter, X509 *anchor)
{
	X509_STORE	*store;
	X509_STORE_CTX	*ctx;
	STACK_OF(X509)	*untrusted;
	int		 ok;

	assert_non_null(store = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(store, anchor), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	assert_non_null(untrusted = sk_X509_new_null());
	if (inter != NULL)
		assert_true(sk_X509_push(untrusted, inter) > 0);
	assert_non_null(ctx = X509_STORE_CTX_new());
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, untrusted), 1);
	ok = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
	return ok;
}

static void
assert_p256(EVP_PKEY *key)
{
	char	group[64];
	size_t	glen;

	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_group_name(key, group, sizeof(group), &glen), 1);
	assert_string_equal(group, "prime256v1");
}

static int
setup_lab(void **state)
{
	struct lab	*lab;
	char		 err[256] = "";

	lab = calloc(1, sizeof(*lab));
	if (lab == NULL)
		return -1;
	snprintf(lab->dir, sizeof(lab->dir), "/tmp/lk-labpki-XXXXXX");
	if (mkdtemp(lab->dir) == NULL)
		return -1;
	*state = lab;
	if (labpki_create(lab->dir, NDEV, MASA_URL, NULL, &lab->res, err,
	    sizeof(err)) != 0) {
		print_error("labpki_create: %s\n", err);
		return -1;
	}
	*state = lab;
	return 0;
}

static int
teardown_lab(void **state)
{
	struct lab	*lab = *state;

	if (lab == NULL)
		return 0;
	labpki_result_free(&lab->res);
	tu_rmtree(lab->dir);
	free(lab);
	return 0;
}

static void
test_files_and_modes(void **state)
{
	struct lab		*lab = *state;
	struct labpki_result	*r = &lab->res;
	char			 path[PATH_MAX];
	size_t			 i, j;

	assert_int_equal(r->ndevices, NDEV);
	assert_non_null(r->devices);
	assert_true(r->manufacturer_ca[0] == '/');
	assert_mode(r->manufacturer_ca, 0644);
	assert_mode(r->manufacturer_ica, 0644);
	assert_mode(r->masa_cert, 0644);
	assert_mode(r->manufacturer_ca_key, 0600);
	assert_mode(r->manufacturer_ica_key, 0600);
	assert_mode(r->masa_key, 0600);
	assert_mode(r->masa_ca, 0644);
	assert_mode(r->masa_ca_key, 0600);
	snprintf(path, sizeof(path), "%s/masa-ca.pem", lab->dir);
	assert_string_equal(r->masa_ca, path);
	snprintf(path, sizeof(path), "%s/manufacturer-ca.key", lab->dir);
	assert_string_equal(r->manufacturer_ca_key, path);
	snprintf(path, sizeof(path), "%s/devices", lab->dir);
	assert_mode(path, 0755);
	for (i = 0; i < r->ndevices; i++) {
		struct labpki_device *d = &r->devices[i];

		assert_int_equal(strlen(d->serial), 12);
		assert_memory_equal(d->serial, "LK", 2);
		assert_int_equal(strspn(d->serial + 2, "0123456789ABCDEF"), 10);
		for (j = 0; j < i; j++)
			assert_string_not_equal(d->serial, r->devices[j].serial);
		snprintf(path, sizeof(path), "%s/devices/%s", lab->dir, d->serial);
		assert_mode(path, 0755);
		snprintf(path, sizeof(path), "%s/devices/%s/idevid.pem", lab->dir, d->serial);
		assert_string_equal(d->cert, path);
		assert_mode(d->cert, 0644);
		assert_mode(d->key, 0600);
		assert_mode(d->masa_anchor, 0644);
	}
	/* No temp files left behind. */
	ntmp = 0;
	assert_int_equal(nftw(lab->dir, count_tmp, 16, FTW_PHYS), 0);
	assert_int_equal(ntmp, 0);
}

static void
test_root_profile(void **state)
{
	struct lab	*lab = *state;
	X509		*root;
	EVP_PKEY	*key;
	BASIC_CONSTRAINTS *bc;
	char		 err[256];

	assert_non_null(root = pki_cert_read(lab->res.manufacturer_ca, err, sizeof(err)));
	assert_non_null(key = pki_key_read(lab->res.manufacturer_ca_key, err, sizeof(err)));
	assert_int_equal(X509_check_private_key(root, key), 1);
	assert_p256(key);
	assert_int_equal(X509_get_version(root), X509_VERSION_3);
	assert_int_equal(X509_check_issued(root, root), X509_V_OK);
	assert_int_equal(X509_verify(root, X509_get0_pubkey(root)), 1);
	assert_true(X509_get_extension_flags(root) & EXFLAG_SS);
	assert_int_equal(X509_check_ca(root), 1);
	assert_non_null(bc = X509_get_ext_d2i(root, NID_basic_constraints, NULL, NULL));
	assert_true(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(ext_critical(root, NID_basic_constraints), 1);
	assert_true(X509_get_key_usage(root) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(root) & KU_CRL_SIGN);
	assert_int_equal(ext_critical(root, NID_key_usage), 1);
	assert_non_null(X509_get0_subject_key_id(root));
	assert_int_equal(X509_get_signature_nid(root), NID_ecdsa_with_SHA256);
	assert_name_cn(X509_get_subject_name(root), "Latchkey Lab Manufacturer Root CA");
	/* About ten years. */
	assert_true(X509_cmp_time(X509_get0_notAfter(root), NULL) > 0);
	{
		int days, secs;

		assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(root),
		    X509_get0_notAfter(root)), 1);
		assert_in_range(days, 3649, 3651);
	}
	X509_free(root);
	EVP_PKEY_free(key);
}

static void
test_ica_and_masa_profile(void **state)
{
	struct lab	*lab = *state;
	X509		*root, *ica, *masa, *mca;
	STACK_OF(X509)	*all;
	BASIC_CONSTRAINTS *bc;
	char		 err[256];

	assert_non_null(root = pki_cert_read(lab->res.manufacturer_ca, err, sizeof(err)));
	assert_non_null(ica = pki_cert_read(lab->res.manufacturer_ica, err, sizeof(err)));
	assert_non_null(masa = pki_cert_read(lab->res.masa_cert, err, sizeof(err)));
	assert_non_null(mca = pki_cert_read(lab->res.masa_ca, err, sizeof(err)));

	assert_name_cn(X509_get_subject_name(ica), "Latchkey Lab Manufacturer IDevID CA");
	assert_int_equal(X509_check_issued(root, ica), X509_V_OK);
	assert_int_equal(X509_check_ca(ica), 1);
	assert_non_null(bc = X509_get_ext_d2i(ica, NID_basic_constraints, NULL, NULL));
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_key_usage(ica) & KU_KEY_CERT_SIGN);
	assert_int_equal(chain_ok(ica, NULL, root, 0), X509_V_OK);
	/* AKI of the ICA = SKI of the root. */
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(ica),
	    X509_get0_subject_key_id(root)), 0);

	/* The MASA CA: under the root, issues the MASA signing certificate only. */
	assert_name_cn(X509_get_subject_name(mca), "Latchkey Lab MASA CA");
	assert_int_equal(X509_check_issued(root, mca), X509_V_OK);
	assert_int_equal(X509_check_ca(mca), 1);
	assert_non_null(bc = X509_get_ext_d2i(mca, NID_basic_constraints, NULL, NULL));
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(mca), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(chain_ok(mca, NULL, root, 0), X509_V_OK);

	/* The MASA signing certificate: under the MASA CA, not a device, not a CA. */
	assert_name_cn(X509_get_subject_name(masa), "Latchkey Lab MASA");
	assert_int_equal(X509_NAME_get_index_by_NID(X509_get_subject_name(masa),
	    NID_serialNumber, -1), -1);
	assert_int_equal(X509_check_issued(mca, masa), X509_V_OK);
	assert_int_not_equal(X509_check_issued(root, masa), X509_V_OK);
	assert_int_not_equal(X509_check_issued(ica, masa), X509_V_OK);
	assert_int_equal(X509_check_ca(masa), 0);
	assert_int_equal(X509_get_key_usage(masa), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_ext_by_NID(masa, NID_ext_key_usage, -1), -1);
	assert_int_equal(chain_ok(masa, mca, root, 0), X509_V_OK);
	/* masa.pem: the MASA certificate, then the MASA CA (the chain vouchers carry). */
	assert_non_null(all = pki_certs_read(lab->res.masa_cert, err, sizeof(err)));
	assert_int_equal(sk_X509_num(all), 2);
	assert_int_equal(X509_cmp(sk_X509_value(all, 0), masa), 0);
	assert_int_equal(X509_cmp(sk_X509_value(all, 1), mca), 0);
	sk_X509_pop_free(all, X509_free);

	X509_free(mca);
	X509_free(masa);
	X509_free(ica);
	X509_free(root);
}

/* Decode HardwareModuleName ::= SEQUENCE { hwType OID, hwSerialNum OCTET STRING }. */
static void
decode_hwmodule(const unsigned char *der, size_t len, char *oid, size_t oidlen,
    char *serial, size_t seriallen)
{
	const unsigned char	*p = der, *end = der + len;
	long			 slen;
	int			 tag, xclass;
	ASN1_OBJECT		*obj;
	ASN1_OCTET_STRING	*os;

	assert_int_equal(ASN1_get_object(&p, &slen, &tag, &xclass, (long)len) & 0x80, 0);
	assert_int_equal(tag, V_ASN1_SEQUENCE);
	assert_int_equal(xclass, V_ASN1_UNIVERSAL);
	assert_ptr_equal(p + slen, end);
	assert_non_null(obj = d2i_ASN1_OBJECT(NULL, &p, end - p));
	assert_non_null(os = d2i_ASN1_OCTET_STRING(NULL, &p, end - p));
	assert_ptr_equal(p, end);
	assert_true(OBJ_obj2txt(oid, (int)oidlen, obj, 1) > 0);
	assert_true((size_t)ASN1_STRING_length(os) < seriallen);
	memcpy(serial, ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os));
	serial[ASN1_STRING_length(os)] = '\0';
	ASN1_OBJECT_free(obj);
	ASN1_OCTET_STRING_free(os);
}

static void
test_idevid_profile(void **state)
{
	struct lab	*lab = *state;
	X509		*root, *ica, *leaf, *masa;
	EVP_PKEY	*key;
	STACK_OF(X509)	*chain;
	unsigned char	*der;
	size_t		 i, len;
	char		 err[256], buf[256], oid[64];
	int		 idx;

	assert_non_null(root = pki_cert_read(lab->res.manufacturer_ca, err, sizeof(err)));
	assert_non_null(ica = pki_cert_read(lab->res.manufacturer_ica, err, sizeof(err)));
	assert_non_null(masa = pki_cert_read(lab->res.masa_cert, err, sizeof(err)));
	for (i = 0; i < lab->res.ndevices; i++) {
		const struct labpki_device *d = &lab->res.devices[i];
		const ASN1_TIME *na;
		X509 *anchor;
		ASN1_OBJECT *mobj;
		const ASN1_OCTET_STRING *mval;
		const unsigned char *mp;
		ASN1_IA5STRING *url;
		BASIC_CONSTRAINTS *bc;

		/* The file holds the leaf followed by the issuing CA. */
		assert_non_null(chain = pki_certs_read(d->cert, err, sizeof(err)));
		assert_int_equal(sk_X509_num(chain), 2);
		leaf = sk_X509_value(chain, 0);
		assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ica), 0);
		assert_int_equal(chain_ok(leaf, ica, root, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
		assert_int_equal(chain_ok(leaf, NULL, root, 0),
		    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);

		assert_non_null(key = pki_key_read(d->key, err, sizeof(err)));
		assert_int_equal(X509_check_private_key(leaf, key), 1);
		assert_p256(key);
		EVP_PKEY_free(key);

		/* Subject: serialNumber and CN = serial, O = manufacturer. */
		assert_int_equal(pki_name_serial(X509_get_subject_name(leaf), buf,
		    sizeof(buf)), 0);
		assert_string_equal(buf, d->serial);
		assert_name_cn(X509_get_subject_name(leaf), d->serial);
		assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
		    NID_organizationName, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, "Latchkey Lab Manufacturer");

		/* SAN hardwareModuleName {PKI_OID_LAB_HWTYPE, serial} (RFC 4108 §5). */
		assert_int_equal(pki_cert_hwmodule(leaf, &der, &len), 0);
		decode_hwmodule(der, len, oid, sizeof(oid), buf, sizeof(buf));
		OPENSSL_free(der);
		assert_string_equal(oid, PKI_OID_LAB_HWTYPE);
		assert_string_equal(buf, d->serial);

		/* id-pe-masa-url: non-critical IA5String (RFC 8995 §2.3.2). */
		assert_non_null(mobj = OBJ_txt2obj(PKI_OID_MASA_URL, 1));
		idx = X509_get_ext_by_OBJ(leaf, mobj, -1);
		ASN1_OBJECT_free(mobj);
		assert_true(idx >= 0);
		assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(leaf, idx)), 0);
		mval = X509_EXTENSION_get_data(X509_get_ext(leaf, idx));
		mp = ASN1_STRING_get0_data(mval);
		assert_non_null(url = d2i_ASN1_IA5STRING(NULL, &mp, ASN1_STRING_length(mval)));
		assert_ptr_equal(mp, ASN1_STRING_get0_data(mval) + ASN1_STRING_length(mval));
		assert_int_equal(ASN1_STRING_length(url), strlen(MASA_URL));
		assert_memory_equal(ASN1_STRING_get0_data(url), MASA_URL, strlen(MASA_URL));
		ASN1_IA5STRING_free(url);

		/* 802.1AR §8.5: notAfter GeneralizedTime 99991231235959Z. */
		na = X509_get0_notAfter(leaf);
		assert_int_equal(ASN1_STRING_type(na), V_ASN1_GENERALIZEDTIME);
		assert_int_equal(ASN1_STRING_length(na), 15);
		assert_memory_equal(ASN1_STRING_get0_data(na), "99991231235959Z", 15);
		assert_true(X509_cmp_time(X509_get0_notBefore(leaf), NULL) < 0);

		assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
		assert_int_equal(ext_critical(leaf, NID_key_usage), 1);
		assert_int_equal(X509_get_extended_key_usage(leaf), XKU_SSL_CLIENT);
		assert_non_null(bc = X509_get_ext_d2i(leaf, NID_basic_constraints, NULL, NULL));
		assert_false(bc->ca);
		BASIC_CONSTRAINTS_free(bc);
		assert_non_null(X509_get0_subject_key_id(leaf));
		assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
		    X509_get0_subject_key_id(ica)), 0);
		/* 128-bit random serial. */
		assert_int_equal(pki_cert_serial_hex(leaf, buf, sizeof(buf)), 0);
		assert_int_equal(strlen(buf), 32);

		/*
		 * masa-anchor.pem is the MASA CA, not the root that issues every IDevID: as
		 * the device's only anchor it admits the MASA and no device (voucher.h).
		 */
		assert_non_null(anchor = pki_cert_read(d->masa_anchor, err, sizeof(err)));
		assert_int_not_equal(X509_cmp(anchor, root), 0);
		assert_name_cn(X509_get_subject_name(anchor), "Latchkey Lab MASA CA");
		assert_int_equal(partial_chain_ok(masa, NULL, anchor), X509_V_OK);
		assert_int_not_equal(partial_chain_ok(leaf, ica, anchor), X509_V_OK);
		X509_free(anchor);
		sk_X509_pop_free(chain, X509_free);
	}
	X509_free(masa);
	X509_free(ica);
	X509_free(root);
}

static void
test_lab_second_run_refuses(void **state)
{
	struct lab		*lab = *state;
	struct labpki_result	 res2;
	const char		*keys[5];
	unsigned char		*before[5], *after;
	size_t			 blen[5], alen, i;
	char			 err[256] = "";

	keys[0] = lab->res.manufacturer_ca_key;
	keys[1] = lab->res.manufacturer_ica_key;
	keys[2] = lab->res.masa_key;
	keys[3] = lab->res.devices[0].key;
	keys[4] = lab->res.masa_ca_key;
	for (i = 0; i < 5; i++)
		before[i] = slurp(keys[i], &blen[i]);
	assert_int_equal(labpki_create(lab->dir, 2, NULL, NULL, &res2, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "manufacturer-ca.key: a manufacturer CA already exists"));
	assert_int_equal(res2.ndevices, 0);
	assert_null(res2.devices);
	labpki_result_free(&res2);
	for (i = 0; i < 5; i++) {
		after = slurp(keys[i], &alen);
		assert_int_equal(alen, blen[i]);
		assert_memory_equal(after, before[i], alen);
		free(after);
		free(before[i]);
	}
}

/* Argument errors fail before anything is written. */
static void
test_lab_bad_args(void **state)
{
	struct labpki_result	 res;
	char			 sub[96], err[256];
	static const char	*bad_urls[] = { "", "no-scheme", "https://a b", "https://\x7f" };
	size_t			 i;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/out", tmpdir);
	err[0] = '\0';
	assert_int_equal(labpki_create(sub, 1, NULL, "dsa1024", &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "dsa1024"));
	for (i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		err[0] = '\0';
		assert_int_equal(labpki_create(sub, 1, bad_urls[i], NULL, &res, err,
		    sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(access(sub, F_OK), -1);
	/* Parent missing: clear error, not a crash. */
	snprintf(sub, sizeof(sub), "%s/no/such", tmpdir);
	assert_int_equal(labpki_create(sub, 1, NULL, NULL, &res, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no/such"));
	labpki_result_free(NULL);
}

/* Other key types: signature algorithm follows the key (SHA-384 for P-384, pure Ed25519). */
static void
test_lab_key_types(void **state)
{
	static const struct {
		const char	*type;
		int		 sig_nid;
		int		 key_id;
	} cases[] = {
		{ "p384", NID_ecdsa_with_SHA384, EVP_PKEY_EC },
		{ "ed25519", NID_ED25519, EVP_PKEY_ED25519 },
	};
	struct labpki_result	 res;
	char			 dir[96], err[256] = "";
	X509			*root, *ica, *leaf;
	STACK_OF(X509)		*chain;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/%s", tmpdir, cases[i].type);
		if (labpki_create(dir, 1, NULL, cases[i].type, &res, err, sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].type, err);
		assert_non_null(root = pki_cert_read(res.manufacturer_ca, err, sizeof(err)));
		assert_non_null(ica = pki_cert_read(res.manufacturer_ica, err, sizeof(err)));
		assert_non_null(chain = pki_certs_read(res.devices[0].cert, err, sizeof(err)));
		leaf = sk_X509_value(chain, 0);
		assert_int_equal(X509_get_signature_nid(root), cases[i].sig_nid);
		assert_int_equal(X509_get_signature_nid(leaf), cases[i].sig_nid);
		assert_int_equal(EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)), cases[i].key_id);
		assert_int_equal(chain_ok(leaf, ica, root, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
		/* No masa_url: no extension. */
		{
			ASN1_OBJECT *o = OBJ_txt2obj(PKI_OID_MASA_URL, 1);

			assert_int_equal(X509_get_ext_by_OBJ(leaf, o, -1), -1);
			ASN1_OBJECT_free(o);
		}
		sk_X509_pop_free(chain, X509_free);
		X509_free(ica);
		X509_free(root);
		labpki_result_free(&res);
	}
}

/* SAN of cert: count of the given IP (4 or 16 bytes) and DNS names. */
static int
san_has(X509 *cert, int type, const void *data, size_t len)
{
	GENERAL_NAMES	*gens;
	GENERAL_NAME	*g;
	int		 i, n = 0;

	assert_non_null(gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL));
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != type)
			continue;
		if ((size_t)ASN1_STRING_length(g->d.ia5) == len &&
		    memcmp(ASN1_STRING_get0_data(g->d.ia5), data, len) == 0)
			n++;
	}
	GENERAL_NAMES_free(gens);
	return n;
}

static int
san_count(X509 *cert)
{
	GENERAL_NAMES	*gens;
	int		 n;

	assert_non_null(gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL));
	n = sk_GENERAL_NAME_num(gens);
	GENERAL_NAMES_free(gens);
	return n;
}

static void
test_domainca(void **state)
{
	struct domainca_files	 f, f2;
	char			 sub[96], err[256] = "";
	unsigned char		 lo[4] = { 127, 0, 0, 1 }, *before, *after;
	size_t			 blen, alen;
	X509			*ca, *tls;
	EVP_PKEY		*key;
	BASIC_CONSTRAINTS	*bc;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/reg", tmpdir);
	if (domainca_create(sub, "example.test", "127.0.0.1", NULL, &f, err,
	    sizeof(err)) != 0)
		fail_msg("domainca_create: %s", err);
	assert_true(f.ca_cert[0] == '/');
	assert_non_null(strstr(f.ca_cert, "/reg/domain-ca.pem"));
	assert_non_null(strstr(f.ca_key, "/reg/domain-ca.key"));
	assert_non_null(strstr(f.tls_cert, "/reg/registrar.pem"));
	assert_non_null(strstr(f.tls_key, "/reg/registrar.key"));
	assert_mode(sub, 0755);
	assert_mode(f.ca_key, 0600);
	assert_mode(f.tls_key, 0600);
	assert_mode(f.ca_cert, 0644);
	assert_mode(f.tls_cert, 0644);

	assert_non_null(ca = pki_cert_read(f.ca_cert, err, sizeof(err)));
	assert_non_null(tls = pki_cert_read(f.tls_cert, err, sizeof(err)));
	assert_name_cn(X509_get_subject_name(ca), "example.test Domain CA");
	assert_int_equal(X509_check_ca(ca), 1);
	assert_true(X509_get_extension_flags(ca) & EXFLAG_SS);
	assert_non_null(bc = X509_get_ext_d2i(ca, NID_basic_constraints, NULL, NULL));
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_true(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN);
	assert_true(X509_get_key_usage(ca) & KU_CRL_SIGN);
	assert_non_null(key = pki_key_read(f.ca_key, err, sizeof(err)));
	assert_int_equal(X509_check_private_key(ca, key), 1);
	EVP_PKEY_free(key);

	assert_name_cn(X509_get_subject_name(tls), "registrar.example.test");
	assert_int_equal(X509_check_ca(tls), 0);
	assert_int_equal(X509_get_extended_key_usage(tls), XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_true(X509_get_key_usage(tls) & KU_DIGITAL_SIGNATURE);
	assert_int_equal(san_has(tls, GEN_IPADD, lo, 4), 1);
	assert_int_equal(san_has(tls, GEN_DNS, "registrar.example.test", 22), 1);
	assert_int_equal(san_has(tls, GEN_DNS, "localhost", 9), 1);
	assert_int_equal(san_count(tls), 3);
	assert_int_equal(X509_check_ip_asc(tls, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_host(tls, "registrar.example.test", 0, 0, NULL), 1);
	assert_int_equal(chain_ok(tls, NULL, ca, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	{
		int days, secs;

		assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(tls),
		    X509_get0_notAfter(tls)), 1);
		assert_in_range(days, 729, 731);
	}
	assert_non_null(key = pki_key_read(f.tls_key, err, sizeof(err)));
	assert_int_equal(X509_check_private_key(tls, key), 1);
	assert_p256(key);
	EVP_PKEY_free(key);

	/* Second run refuses and leaves the key alone. */
	before = slurp(f.ca_key, &blen);
	err[0] = '\0';
	assert_int_equal(domainca_create(sub, "example.test", "127.0.0.1", NULL, &f2, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "domain-ca.key"));
	after = slurp(f.ca_key, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(after, before, alen);
	free(after);
	free(before);

	X509_free(tls);
	X509_free(ca);
}

/* The listen host becomes an IP or DNS SAN, never duplicated. */
static void
test_domainca_listen_hosts(void **state)
{
	static const struct {
		const char	*host;
		int		 type;		/* GEN_IPADD, GEN_DNS, or 0: nothing extra */
		unsigned char	 ip[16];
		size_t		 len;
		int		 ok;
	} cases[] = {
		{ "::1", GEN_IPADD, { [15] = 1 }, 16, 1 },
		{ "[::1]", GEN_IPADD, { [15] = 1 }, 16, 1 },
		{ "10.1.2.3", GEN_IPADD, { 10, 1, 2, 3 }, 4, 1 },
		{ "reg.example.test", GEN_DNS, "reg.example.test", 16, 1 },
		{ "localhost", 0, "", 0, 1 },
		{ "registrar.example.test", 0, "", 0, 1 },
		{ NULL, 0, "", 0, 1 },
		{ "bad host", 0, "", 0, 0 },
	};
	struct domainca_files	 f;
	char			 dir[96], err[256], path[128];
	X509			*tls;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/case%zu", tmpdir, i);
		err[0] = '\0';
		if (!cases[i].ok) {
			assert_int_equal(domainca_create(dir, "example.test", cases[i].host,
			    NULL, &f, err, sizeof(err)), -1);
			assert_non_null(strstr(err, "bad host"));
			snprintf(path, sizeof(path), "%s/domain-ca.key", dir);
			assert_int_equal(access(path, F_OK), -1);
			continue;
		}
		if (domainca_create(dir, "example.test", cases[i].host, NULL, &f, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", cases[i].host, err);
		assert_non_null(tls = pki_cert_read(f.tls_cert, err, sizeof(err)));
		if (cases[i].type != 0) {
			assert_int_equal(san_has(tls, cases[i].type, cases[i].ip,
			    cases[i].len), 1);
			assert_int_equal(san_count(tls), 3);
		} else
			assert_int_equal(san_count(tls), 2);
		assert_int_equal(san_has(tls, GEN_DNS, "registrar.example.test", 22), 1);
		X509_free(tls);
	}
}

static void
test_domainca_bad_domain(void **state)
{
	const char		*bad[] = { NULL, "", ".x", "a..b", "a b", "x.", "-x",
	    "a_b.test", "\xc3\xa9.test", NULL /* 64-character label, below */,
	    NULL /* 55 characters, below */ };
	struct domainca_files	 f;
	char			 err[256], longlabel[80], dom55[64];
	size_t			 i, nbad = sizeof(bad) / sizeof(bad[0]);

	(void)state;
	memset(longlabel, 'a', 64);
	strcpy(longlabel + 64, ".test");
	bad[nbad - 2] = longlabel;
	/* CN "<domain> Domain CA" must fit RFC 5280's 64 characters: 54 at most. */
	memset(dom55, 'b', 50);
	strcpy(dom55 + 50, ".test");
	bad[nbad - 1] = dom55;
	for (i = 0; i < nbad; i++) {
		err[0] = '\0';
		assert_int_equal(domainca_create(tmpdir, bad[i], NULL, NULL, &f, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "domain"));
	}
	assert_non_null(strstr(err, "at most 54"));
	/* 54 characters is fine. */
	if (domainca_create(tmpdir, dom55 + 1, NULL, NULL, &f, err, sizeof(err)) != 0)
		fail_msg("%s", err);
}

/* The MASA's TLS certificate: under the root, serverAuth only, SAN the --masa-url host. */
static void
test_masa_tls_profile(void **state)
{
	struct lab	*lab = *state;
	X509		*root, *tls;
	EVP_PKEY	*key;
	char		 err[256], path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/masa-tls.pem", lab->dir);
	assert_string_equal(lab->res.masa_tls_cert, path);
	assert_int_equal(lab->res.masa_tls_made, 1);
	assert_mode(lab->res.masa_tls_cert, 0644);
	assert_mode(lab->res.masa_tls_key, 0600);
	assert_non_null(root = pki_cert_read(lab->res.manufacturer_ca, err, sizeof(err)));
	assert_non_null(tls = pki_cert_read(lab->res.masa_tls_cert, err, sizeof(err)));
	assert_non_null(key = pki_key_read(lab->res.masa_tls_key, err, sizeof(err)));
	assert_int_equal(X509_check_private_key(tls, key), 1);
	assert_name_cn(X509_get_subject_name(tls), "Latchkey Lab MASA TLS");
	assert_int_equal(X509_check_ca(tls), 0);
	assert_int_equal(X509_get_extended_key_usage(tls), XKU_SSL_SERVER);
	assert_int_equal(pki_cert_has_eku(tls, NID_server_auth), 1);
	assert_int_equal(chain_ok(tls, NULL, root, X509_PURPOSE_SSL_SERVER), X509_V_OK);
	/* MASA_URL's host, and nothing else (the names of this host only stand in for none). */
	assert_int_equal(san_count(tls), 1);
	assert_int_equal(san_has(tls, GEN_DNS, "masa.lab.example", 16), 1);
	assert_int_equal(X509_check_host(tls, "masa.lab.example", 0, 0, NULL), 1);
	EVP_PKEY_free(key);
	X509_free(tls);
	X509_free(root);
}

/* labpki_san_check: what --san takes, one table; never the unspecified addresses. */
static void
test_san_check(void **state)
{
	static const struct {
		const char	*s;
		const char	*why;		/* NULL: accepted; else a part of err */
		int		 ip, unspec;
	} cases[] = {
		{ "reg.example.test", NULL, 0, 0 },
		{ "localhost", NULL, 0, 0 },
		{ "host-1", NULL, 0, 0 },
		{ "192.0.2.1", NULL, 1, 0 },
		{ "::1", NULL, 1, 0 },
		{ "[2001:db8::1]", NULL, 1, 0 },
		{ "0.0.0.0", "unspecified address", 1, 1 },
		{ "::", "unspecified address", 1, 1 },
		{ "[::]", "unspecified address", 1, 1 },
		{ "0:0::0", "unspecified address", 1, 1 },
		{ "*.example.test", "wildcard", 0, 0 },
		{ "a_b.test", "neither a DNS name nor an IP address", 0, 0 },
		{ "10.0.0", "neither", 0, 0 },
		{ "256.1.1.1", "neither", 0, 0 },
		{ "[192.0.2.1]", "neither", 0, 0 },
		{ "[::1", "neither", 0, 0 },
		{ "a..b", "neither", 0, 0 },
		{ "x.", "neither", 0, 0 },
		{ "", "empty", 0, 0 },
	};
	char	err[256];
	size_t	i;
	int	rc;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		rc = labpki_san_check(cases[i].s, err, sizeof(err));
		if (cases[i].why == NULL ? rc != 0 : rc != -1 ||
		    strstr(err, cases[i].why) == NULL)
			fail_msg("\"%s\": rc %d, err \"%s\"", cases[i].s, rc, err);
		if (labpki_san_is_ip(cases[i].s) != cases[i].ip ||
		    labpki_san_unspecified(cases[i].s) != cases[i].unspec)
			fail_msg("\"%s\": is_ip/unspecified", cases[i].s);
	}
	assert_int_equal(labpki_san_check(NULL, err, sizeof(err)), -1);
	assert_int_equal(labpki_san_unspecified(NULL), 0);
}

/* domainca_create_san: the names as given, registrar.<domain> last, no duplicates. */
static void
test_domainca_san(void **state)
{
	static const char *const names[] = { "reg.example.test", "192.0.2.10",
	    "[2001:db8::1]", "REGISTRAR.example.test", "reg.example.test" };
	static const char *const wild[] = { "reg.example.test", "0.0.0.0" };
	unsigned char		 v4[4] = { 192, 0, 2, 10 };
	unsigned char		 v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	char			 dir[96], err[256], got[LABPKI_SAN_MAX][LABPKI_SAN_LEN];
	struct domainca_files	 f;
	size_t			 n;
	X509			*tls;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/san", tmpdir);
	if (domainca_create_san(dir, "example.test", names, 5, NULL, &f, err,
	    sizeof(err)) != 0)
		fail_msg("domainca_create_san: %s", err);
	assert_non_null(tls = pki_cert_read(f.tls_cert, err, sizeof(err)));
	assert_int_equal(san_count(tls), 4);
	assert_int_equal(san_has(tls, GEN_DNS, "reg.example.test", 16), 1);
	assert_int_equal(san_has(tls, GEN_IPADD, v4, 4), 1);
	assert_int_equal(san_has(tls, GEN_IPADD, v6, 16), 1);
	assert_int_equal(san_has(tls, GEN_DNS, "REGISTRAR.example.test", 22), 1);
	assert_int_equal(san_has(tls, GEN_DNS, "localhost", 9), 0);
	X509_free(tls);
	assert_int_equal(labpki_cert_san(f.tls_cert, got, LABPKI_SAN_MAX, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(got[0], "reg.example.test");
	assert_string_equal(got[1], "192.0.2.10");
	assert_string_equal(got[2], "2001:db8::1");
	assert_string_equal(got[3], "REGISTRAR.example.test");

	/* An unspecified address is refused before anything is written, by either call. */
	snprintf(dir, sizeof(dir), "%s/wild", tmpdir);
	err[0] = '\0';
	assert_int_equal(domainca_create_san(dir, "example.test", wild, 2, NULL, &f, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "unspecified address"));
	assert_int_equal(domainca_create(dir, "example.test", "0.0.0.0", NULL, &f, err,
	    sizeof(err)), -1);
	assert_int_equal(domainca_create(dir, "example.test", "[::]", NULL, &f, err,
	    sizeof(err)), -1);
	snprintf(dir, sizeof(dir), "%s/wild/domain-ca.key", tmpdir);
	assert_int_equal(access(dir, F_OK), -1);

	/* Re-issue with names: those and the subject's CN, same key. */
	snprintf(dir, sizeof(dir), "%s/san", tmpdir);
	{
		static const char *const re[] = { "new.example.test" };
		char old[LABPKI_PATH + 8];

		assert_int_equal(domainca_reissue_registrar_san(dir, re, 1, &f, old,
		    sizeof(old), err, sizeof(err)), 0);
		assert_int_equal(labpki_cert_san(f.tls_cert, got, LABPKI_SAN_MAX, &n, err,
		    sizeof(err)), 0);
		assert_int_equal(n, 2);
		assert_string_equal(got[0], "new.example.test");
		assert_string_equal(got[1], "registrar.example.test");
		assert_int_equal(domainca_reissue_registrar_san(dir, wild, 2, &f, old,
		    sizeof(old), err, sizeof(err)), -1);
		assert_non_null(strstr(err, "unspecified address"));
	}
}

static size_t	nprogress, last_done, last_total;

static void
count_progress(void *arg, size_t done, size_t total)
{
	(void)arg;
	nprogress++;
	assert_int_equal(done, last_done + 1);
	last_done = done;
	last_total = total;
}

/* labpki_add: more devices, old ones and every key untouched, serials.txt in order. */
static void
test_lab_add(void **state)
{
	struct labpki_result	 a, b;
	struct labpki_opts	 o;
	static const char *const san[] = { "masa.lab.test" };
	char			 dir[96], err[256] = "", path[PATH_MAX];
	unsigned char		*before[3], *after, *list;
	const char		*keys[3];
	size_t			 blen[3], alen, i, j;
	X509			*cert;
	ASN1_OBJECT		*obj;
	EVP_PKEY		*key;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/lab", tmpdir);
	memset(&o, 0, sizeof(o));
	o.ndevices = 2;
	o.key_type = "p384";
	o.masa_url = MASA_URL;
	o.progress = count_progress;
	if (labpki_create_opts(dir, &o, &a, err, sizeof(err)) != 0)
		fail_msg("labpki_create_opts: %s", err);
	assert_int_equal(nprogress, 2);
	assert_int_equal(last_total, 2);
	assert_int_equal(a.nadded, 2);
	keys[0] = a.devices[0].key;
	keys[1] = a.devices[1].key;
	keys[2] = a.manufacturer_ica_key;
	for (i = 0; i < 3; i++)
		before[i] = slurp(keys[i], &blen[i]);

	memset(&o, 0, sizeof(o));
	o.ndevices = 3;
	o.progress = count_progress;
	nprogress = last_done = 0;
	if (labpki_add(dir, &o, &b, err, sizeof(err)) != 0)
		fail_msg("labpki_add: %s", err);
	assert_int_equal(nprogress, 3);
	assert_int_equal(last_total, 3);
	assert_int_equal(b.ndevices, 5);
	assert_int_equal(b.nadded, 3);
	assert_int_equal(b.masa_tls_made, 0);
	assert_string_equal(b.devices[0].serial, a.devices[0].serial);
	assert_string_equal(b.devices[1].serial, a.devices[1].serial);
	assert_string_equal(b.devices[0].key, a.devices[0].key);
	for (i = 0; i < b.ndevices; i++)
		for (j = 0; j < i; j++)
			assert_string_not_equal(b.devices[i].serial, b.devices[j].serial);
	for (i = 0; i < 3; i++) {
		after = slurp(keys[i], &alen);
		assert_int_equal(alen, blen[i]);
		assert_memory_equal(after, before[i], alen);
		free(after);
		free(before[i]);
	}
	/* serials.txt: all five, in res order. */
	list = slurp(b.serials, &alen);
	for (i = 0, j = 0; i < b.ndevices; i++) {
		assert_true(j + strlen(b.devices[i].serial) < alen);
		assert_memory_equal(list + j, b.devices[i].serial, strlen(b.devices[i].serial));
		j += strlen(b.devices[i].serial);
		assert_int_equal(list[j++], '\n');
	}
	assert_int_equal(j, alen);
	free(list);
	/* A new device: the lab's key type and MASA URL, under its ICA. */
	assert_non_null(key = pki_key_read(b.devices[4].key, err, sizeof(err)));
	assert_int_equal(EVP_PKEY_get_bits(key), 384);
	EVP_PKEY_free(key);
	assert_non_null(cert = pki_cert_read(b.devices[4].cert, err, sizeof(err)));
	assert_non_null(obj = OBJ_txt2obj(PKI_OID_MASA_URL, 1));
	assert_true(X509_get_ext_by_OBJ(cert, obj, -1) >= 0);
	ASN1_OBJECT_free(obj);
	X509_free(cert);
	labpki_result_free(&b);

	/* masa_san only for a new masa-tls.pem; a lab without one gets it from --add 0. */
	memset(&o, 0, sizeof(o));
	o.masa_san = san;
	o.nmasa_san = 1;
	assert_int_equal(labpki_add(dir, &o, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "masa-tls.pem exists"));
	assert_int_equal(unlink(a.masa_tls_cert), 0);
	assert_int_equal(unlink(a.masa_tls_key), 0);
	if (labpki_add(dir, &o, &b, err, sizeof(err)) != 0)
		fail_msg("labpki_add 0: %s", err);
	assert_int_equal(b.masa_tls_made, 1);
	assert_int_equal(b.nadded, 0);
	assert_int_equal(b.ndevices, 5);
	assert_mode(b.masa_tls_key, 0600);
	assert_non_null(cert = pki_cert_read(b.masa_tls_cert, err, sizeof(err)));
	assert_int_equal(san_count(cert), 2);
	assert_int_equal(san_has(cert, GEN_DNS, "masa.lab.test", 13), 1);
	assert_int_equal(san_has(cert, GEN_DNS, "masa.lab.example", 16), 1);
	X509_free(cert);
	labpki_result_free(&b);
	labpki_result_free(&a);

	/* No lab: a clear error. */
	snprintf(path, sizeof(path), "%s/nolab", tmpdir);
	assert_int_equal(mkdir(path, 0755), 0);
	memset(&o, 0, sizeof(o));
	o.ndevices = 1;
	assert_int_equal(labpki_add(path, &o, &b, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no lab here"));
}

#define TMP_TEST(f)	cmocka_unit_test_setup_teardown(f, setup_tmp, teardown_tmp)

int
main(void)
{
	const struct CMUnitTest lab_tests[] = {
		cmocka_unit_test(test_files_and_modes),
		cmocka_unit_test(test_root_profile),
		cmocka_unit_test(test_ica_and_masa_profile),
		cmocka_unit_test(test_idevid_profile),
		cmocka_unit_test(test_lab_second_run_refuses),
		cmocka_unit_test(test_masa_tls_profile),
	};
	const struct CMUnitTest other_tests[] = {
		TMP_TEST(test_lab_bad_args),
		TMP_TEST(test_lab_key_types),
		TMP_TEST(test_domainca),
		TMP_TEST(test_domainca_listen_hosts),
		TMP_TEST(test_domainca_bad_domain),
		TMP_TEST(test_san_check),
		TMP_TEST(test_domainca_san),
		TMP_TEST(test_lab_add),
	};
	int	fails;

	fails = cmocka_run_group_tests_name("labpki", lab_tests, setup_lab, teardown_lab);
	fails += cmocka_run_group_tests_name("domainca", other_tests, NULL, NULL);
	return fails != 0;
}
