/*
 * Unit tests for enroll/latchkeyd/registrar.c through registrar_handle(), without sockets:
 * one table of requests {peer certificate, channel binding, content type, body} and what
 * the registrar must answer {HTTP status, a piece of the one-line reason, certificates
 * issued, refusals audited}. Every refusal of the enrollment bad-input table
 * (tests/integration/test_bad_input.sh) that the registrar decides is a row; 413, 405 and
 * the unknown paths are decided by the HTTP layer before the registrar is asked.
 *
 * The fixture: a lab manufacturer (labpki) with devices D0 (claimed), D1 (never claimed),
 * D2 (claimed and enrolled here, so it has an LDevID; a row revokes its binding halfway),
 * D3 (claimed, IDevID on the manufacturer's CRL); a manufacturer auto-accepted by lab policy
 * (DA, never claimed); one the registrar does not know; an expired IDevID with D0's serial;
 * a certificate from an unknown issuer with a line break in its name; an LDevID the domain
 * CA signed that is not in the registry; one from another CA with the very same name. The
 * registry is written and read over a connection of our own, as latchkeyctl would.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/ca.h"
#include "certs/labpki.h"
#include "certs/p7.h"
#include "certs/pki.h"
#include "enroll/common/b64.h"
#include "enroll/latchkeyd/config.h"
#include "enroll/latchkeyd/est.h"
#include "enroll/latchkeyd/registrar.h"
#include "enroll/store/registry.h"
#include "tests/unit/testutil.h"

#define DOMAIN		"example.test"
#define CT_PKCS10	EST_CT_PKCS10
#define CT_JSON		"application/json"
#define WRONG_CB	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
#define SERIAL_NL	"LK0\r\nsecond line"

/* Who is on the other end of the TLS connection. */
enum who {
	P_NONE,		/* no client certificate */
	P_D0,		/* IDevID of a claimed device */
	P_D1,		/* IDevID of a device never claimed */
	P_D2,		/* IDevID of D2 (claimed and enrolled; later revoked) */
	P_D3,		/* IDevID on the manufacturer CRL (claimed) */
	P_DX,		/* IDevID of a manufacturer the registrar does not know */
	P_DA,		/* IDevID of the manufacturer auto-accepted by lab policy (unclaimed) */
	P_EVIL,		/* unknown issuer whose CN holds a line break */
	P_D0_EXPIRED,	/* an expired IDevID with D0's serial, from the right issuing CA */
	P_LD2,		/* D2's LDevID, issued by the registrar in setup */
	P_LD_STRAY,	/* signed by the domain CA but never issued through the registry */
	P_LD_FOREIGN,	/* from another CA with the same name as the domain CA */
	P_D0_B,		/* manufacturer B (auto-accepted) issued an IDevID with A's D0 serial */
	P_D0_A2,	/* a second IDevID with D0's serial from D0's own manufacturer */
	P_D1_B,		/* manufacturer B's IDevID with D1's serial */
	P_LD0,		/* D0's LDevID, kept from a row that enrolls it */
	P_COUNT
};

enum body {
	B_NONE,
	B_CSR,			/* P-256, the peer's serial, this connection's binding */
	B_CSR_NO_CHAL,		/* no challengePassword */
	B_CSR_WRONG_CHAL,	/* a challengePassword that is not this connection's binding */
	B_CSR_OTHER_SERIAL,	/* D1's serial in the subject */
	B_CSR_SERIAL_NL,	/* a serialNumber with a line break in it (UTF8String) */
	B_CSR_BAD_SIG,		/* a bit of the signature flipped */
	B_CSR_RSA1024,		/* a key the domain CA does not certify */
	B_NOT_B64,
	B_NOT_DER,		/* base64 of random bytes */
	B_NETID,		/* a good netid report */
	B_NETID_BAD,		/* a MAC that is not one */
	B_NETID_OWN,		/* identifiers nobody else reported */
	B_NETID_MIXED,		/* one of B_NETID's (held by D2) and one of its own */
};

/* Registry changes before a row's request, as latchkeyctl would make them. */
enum pre {
	PRE_NONE,
	PRE_CLAIM_D2,		/* claim D2 again (its binding is revoked): must not readmit */
	PRE_CLAIM_D1_LAB,	/* claim D1 naming its manufacturer (the lab anchor) */
	PRE_READMIT_D2,		/* latchkeyctl readmit D2 */
	PRE_D2_QUARANTINED,	/* assert: D2's identifiers are in the revoked set */
};

enum check {
	C_TEXT,		/* text/plain, one line holding want_text */
	C_ISSUED,	/* PKCS#7 with one LDevID for the peer's serial and the CSR's key */
	C_CACERTS,	/* PKCS#7 with the domain CA */
	C_JSON,		/* application/json holding want_text */
	C_EMPTY,	/* no body */
};

struct reg_case {
	const char	*name;
	enum who	 revoke;	/* before the request: revoke this IDevID's binding */
	enum est_op	 op;
	enum who	 peer;
	int		 no_cb;		/* the connection has no binding (peer->chanbind NULL) */
	const char	*ctype;
	enum body	 body;
	int		 want;		/* HTTP status */
	enum check	 check;
	const char	*want_text;	/* case-insensitive, in the reason or JSON */
	int		 audited;	/* enroll-refused audit entries this request adds */
};

/* A row of the trust-model table: a registry change first, an LDevID to keep after. */
struct trust_case {
	enum pre	 pre;		/* before the request (after revoke) */
	enum who	 keep;		/* C_ISSUED: keep the new LDevID as this peer */
	struct reg_case	 c;
};

#define ENR	EST_OP_SIMPLEENROLL
#define REENR	EST_OP_SIMPLEREENROLL
#define STATUS	LK_OP_STATUS
#define NETID	LK_OP_NETID

static const struct reg_case cases[] = {
	/* The bad-input table of tests/integration/test_bad_input.sh, in its order. */
	{ "no client certificate", P_NONE, ENR, P_NONE, 0, CT_PKCS10, B_CSR,
	    401, C_TEXT, "client certificate", 0 },
	{ "unknown manufacturer", P_NONE, ENR, P_DX, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "unknown manufacturer", 0 },
	{ "expired IDevID", P_NONE, ENR, P_D0_EXPIRED, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "expired", 0 },
	{ "IDevID on the manufacturer CRL", P_NONE, ENR, P_D3, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "revoked", 0 },
	{ "device not claimed", P_NONE, ENR, P_D1, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "not claimed", 1 },
	{ "bad base64", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_NOT_B64,
	    400, C_TEXT, "base64", 0 },
	{ "bad DER", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_NOT_DER,
	    400, C_TEXT, "bad CSR", 0 },
	{ "empty body", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_NONE,
	    400, C_TEXT, "bad CSR", 0 },
	{ "CSR signature invalid (proof of possession)", P_NONE, ENR, P_D0, 0, CT_PKCS10,
	    B_CSR_BAD_SIG, 400, C_TEXT, "signature", 0 },
	{ "channel binding missing", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR_NO_CHAL,
	    403, C_TEXT, "channel binding missing", 1 },
	{ "channel binding wrong", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR_WRONG_CHAL,
	    403, C_TEXT, "does not match this TLS connection", 1 },
	{ "channel binding unknown for the connection", P_NONE, ENR, P_D0, 1, CT_PKCS10, B_CSR,
	    403, C_TEXT, "does not match this TLS connection", 1 },
	{ "weak key", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR_RSA1024,
	    400, C_TEXT, "RSA", 0 },
	{ "wrong content type", P_NONE, ENR, P_D0, 0, "text/plain", B_CSR,
	    415, C_TEXT, "application/pkcs10", 0 },
	{ "no content type", P_NONE, ENR, P_D0, 0, NULL, B_CSR,
	    415, C_TEXT, "application/pkcs10", 0 },
	{ "unknown operation", P_NONE, (enum est_op)0, P_D0, 0, CT_PKCS10, B_CSR,
	    404, C_TEXT, "unknown", 0 },
	{ "CSR with another device's serial", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR_OTHER_SERIAL,
	    403, C_TEXT, "does not match the certificate's serial", 1 },
	/* Peer-supplied text in the reason still makes one line. */
	{ "unknown issuer with a line break in its name", P_NONE, ENR, P_EVIL, 0, CT_PKCS10,
	    B_CSR, 403, C_TEXT, "unknown manufacturer", 0 },
	{ "CSR serialNumber with a line break", P_NONE, ENR, P_D0, 0, CT_PKCS10,
	    B_CSR_SERIAL_NL, 403, C_TEXT, "does not match the certificate's serial", 1 },
	{ "LDevID used for simpleenroll", P_NONE, ENR, P_LD2, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "unknown manufacturer", 0 },
	{ "IDevID used for simplereenroll", P_NONE, REENR, P_D0, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "not a valid LDevID", 0 },

	/* Success: a claimed device with a good CSR; parameters of the media type ignored. */
	{ "claimed device, good CSR", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR,
	    200, C_ISSUED, NULL, 0 },
	{ "claimed device again, media type with parameters", P_NONE, ENR, P_D0, 0,
	    " Application/PKCS10 ; foo=bar", B_CSR, 200, C_ISSUED, NULL, 0 },
	{ "cacerts without a certificate", P_NONE, EST_OP_CACERTS, P_NONE, 1, NULL, B_NONE,
	    200, C_CACERTS, NULL, 0 },

	/* The LDevID paths sharing ldevid_holder_find: (a) no certificate. */
	{ "reenroll: no client certificate", P_NONE, REENR, P_NONE, 0, CT_PKCS10, B_CSR,
	    401, C_TEXT, "LDevID", 0 },
	{ "status: no client certificate", P_NONE, STATUS, P_NONE, 1, NULL, B_NONE,
	    401, C_TEXT, "LDevID", 0 },
	{ "netid: no client certificate", P_NONE, NETID, P_NONE, 1, CT_JSON, B_NETID,
	    401, C_TEXT, "LDevID", 0 },
	/* (b) not issued by the domain CA: another CA of the same name, an IDevID. */
	{ "reenroll: LDevID of a look-alike CA", P_NONE, REENR, P_LD_FOREIGN, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "not a valid LDevID of domain " DOMAIN, 0 },
	{ "status: LDevID of a look-alike CA", P_NONE, STATUS, P_LD_FOREIGN, 1, NULL, B_NONE,
	    403, C_TEXT, "not a valid LDevID", 0 },
	{ "netid: LDevID of a look-alike CA", P_NONE, NETID, P_LD_FOREIGN, 1, CT_JSON, B_NETID,
	    403, C_TEXT, "not a valid LDevID", 0 },
	{ "status: IDevID", P_NONE, STATUS, P_D0, 1, NULL, B_NONE,
	    403, C_TEXT, "not a valid LDevID", 0 },
	{ "netid: IDevID", P_NONE, NETID, P_D0, 1, CT_JSON, B_NETID,
	    403, C_TEXT, "not a valid LDevID", 0 },
	/* Signed by the domain CA, but the registry never issued it. */
	{ "reenroll: LDevID not in the registry", P_NONE, REENR, P_LD_STRAY, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "not in the registry", 1 },
	{ "status: LDevID not in the registry", P_NONE, STATUS, P_LD_STRAY, 1, NULL, B_NONE,
	    403, C_TEXT, "not in the registry", 0 },
	{ "netid: LDevID not in the registry", P_NONE, NETID, P_LD_STRAY, 1, CT_JSON, B_NETID,
	    403, C_TEXT, "not in the registry", 0 },
	/* (c) a valid LDevID of an active binding. */
	{ "status: active LDevID", P_NONE, STATUS, P_LD2, 1, NULL, B_NONE,
	    200, C_JSON, "\"state\":\"active\"", 0 },
	{ "netid: active LDevID", P_NONE, NETID, P_LD2, 1, CT_JSON, B_NETID,
	    204, C_EMPTY, NULL, 0 },
	{ "netid: wrong content type", P_NONE, NETID, P_LD2, 1, "text/plain", B_NETID,
	    415, C_TEXT, "application/json", 0 },
	{ "netid: bad report", P_NONE, NETID, P_LD2, 1, CT_JSON, B_NETID_BAD,
	    400, C_TEXT, "mac", 0 },
	{ "reenroll: wrong content type", P_NONE, REENR, P_LD2, 0, "application/json", B_CSR,
	    415, C_TEXT, "application/pkcs10", 0 },
	{ "reenroll: CSR signature invalid", P_NONE, REENR, P_LD2, 0, CT_PKCS10, B_CSR_BAD_SIG,
	    400, C_TEXT, "signature", 0 },
	{ "reenroll: channel binding wrong", P_NONE, REENR, P_LD2, 0, CT_PKCS10, B_CSR_WRONG_CHAL,
	    403, C_TEXT, "does not match this TLS connection", 1 },
	{ "reenroll: CSR with another device's serial", P_NONE, REENR, P_LD2, 0, CT_PKCS10,
	    B_CSR_OTHER_SERIAL, 403, C_TEXT, "does not match the certificate's serial", 1 },
	{ "reenroll: active LDevID, good CSR", P_NONE, REENR, P_LD2, 0, CT_PKCS10, B_CSR,
	    200, C_ISSUED, NULL, 0 },
	/* (d) once the binding is revoked (as latchkeyctl revoke does). */
	{ "reenroll: after the binding was revoked", P_D2, REENR, P_LD2, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "revoked: keyCompromise", 1 },
	{ "status: after the binding was revoked", P_NONE, STATUS, P_LD2, 1, NULL, B_NONE,
	    200, C_JSON, "\"state\":\"revoked\"", 0 },
	{ "status: names the reason", P_NONE, STATUS, P_LD2, 1, NULL, B_NONE,
	    200, C_JSON, "\"reason\":\"keyCompromise\"", 0 },
	{ "netid: after the binding was revoked", P_NONE, NETID, P_LD2, 1, CT_JSON, B_NETID,
	    403, C_TEXT, "revoked: keyCompromise", 0 },
	{ "revoked binding", P_NONE, ENR, P_D2, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "revoked: keyCompromise", 1 },
	/* Lab policy: auto-accept enrolls without a claim, but not past a revocation. */
	{ "auto-accept: unclaimed device", P_NONE, ENR, P_DA, 0, CT_PKCS10, B_CSR,
	    200, C_ISSUED, NULL, 0 },
	{ "auto-accept: after the binding was revoked", P_DA, ENR, P_DA, 0, CT_PKCS10, B_CSR,
	    403, C_TEXT, "revoked: keyCompromise", 1 },
	/* The registrar goes on serving. */
	{ "still serving: claimed device, good CSR", P_NONE, ENR, P_D0, 0, CT_PKCS10, B_CSR,
	    200, C_ISSUED, NULL, 0 },
};

/*
 * The trust model (DESIGN.md): a binding belongs to one (manufacturer anchor, IDevID); a
 * revoked binding refuses every path until an admin re-admits the device; a report of
 * network identifiers never takes one from another device. Run after cases[].
 */
static const struct trust_case trust_cases[] = {
	{ PRE_NONE, P_LD0, { "D0 enrolls; its LDevID is kept", P_NONE, ENR, P_D0, 0,
	    CT_PKCS10, B_CSR, 200, C_ISSUED, NULL, 0 } },

	/* A binding belongs to one IDevID: two manufacturers, the same serial. */
	{ PRE_NONE, P_NONE, { "two manufacturers: B's IDevID with A's bound serial", P_NONE,
	    ENR, P_D0_B, 0, CT_PKCS10, B_CSR, 403, C_TEXT, "is bound to another IDevID", 1 } },
	{ PRE_NONE, P_NONE, { "same manufacturer: another IDevID with a bound serial", P_NONE,
	    ENR, P_D0_A2, 0, CT_PKCS10, B_CSR, 403, C_TEXT, "is bound to another IDevID", 1 } },
	{ PRE_NONE, P_NONE, { "the bound IDevID still enrolls", P_NONE, ENR, P_D0, 0,
	    CT_PKCS10, B_CSR, 200, C_ISSUED, NULL, 0 } },

	/* Network identifiers are not moved by a report: D2's (revoked) stay quarantined. */
	{ PRE_NONE, P_NONE, { "netid: a revoked device's identifiers", P_NONE, NETID, P_LD0, 1,
	    CT_JSON, B_NETID, 409, C_TEXT, "held by another device", 0 } },
	{ PRE_NONE, P_NONE, { "netid: own identifiers", P_NONE, NETID, P_LD0, 1, CT_JSON,
	    B_NETID_OWN, 204, C_EMPTY, NULL, 0 } },
	{ PRE_NONE, P_NONE, { "netid: one held, one own: names the held one", P_NONE, NETID,
	    P_LD0, 1, CT_JSON, B_NETID_MIXED, 409, C_TEXT, "mac 02:00:5e:00:53:01", 0 } },
	{ PRE_D2_QUARANTINED, P_NONE, { "netid: D2 stays in the revoked set", P_NONE, STATUS,
	    P_LD0, 1, NULL, B_NONE, 200, C_JSON, "\"state\":\"active\"", 0 } },

	/* Revocation sticks: claiming again does not re-admit. */
	{ PRE_CLAIM_D2, P_NONE, { "claimed again after revocation", P_NONE, ENR, P_D2, 0,
	    CT_PKCS10, B_CSR, 403, C_TEXT, "revoked: keyCompromise", 1 } },
	{ PRE_READMIT_D2, P_NONE, { "re-admitted: enrolls again", P_NONE, ENR, P_D2, 0,
	    CT_PKCS10, B_CSR, 200, C_ISSUED, NULL, 0 } },

	/* A claim naming the manufacturer: only an IDevID chaining to it matches. */
	{ PRE_CLAIM_D1_LAB, P_NONE, { "claim names A: B's IDevID with that serial", P_NONE,
	    ENR, P_D1_B, 0, CT_PKCS10, B_CSR, 403, C_TEXT,
	    "is claimed for another manufacturer", 1 } },
	{ PRE_NONE, P_NONE, { "claim names A: A's IDevID enrolls", P_NONE, ENR, P_D1, 0,
	    CT_PKCS10, B_CSR, 200, C_ISSUED, NULL, 0 } },
	{ PRE_NONE, P_NONE, { "claim names A: B's IDevID, once bound", P_NONE, ENR, P_D1_B, 0,
	    CT_PKCS10, B_CSR, 403, C_TEXT, "is bound to another IDevID", 1 } },
};

struct peer {
	X509		*cert;
	STACK_OF(X509)	*chain;
	char		 serial[PKI_SERIAL_MAX];
};

static struct {
	char			 dir[64];
	struct labpki_result	 lab, other, autolab;
	struct domainca_files	 dc;
	struct tu_ca		 foreign;
	struct config		 cfg;
	struct registrar	*reg;
	struct registry		*db;		/* our own connection, like latchkeyctl's */
	struct peer		 peers[P_COUNT];
	EVP_PKEY		*key, *weak;	/* CSR keys */
	X509			*ca;
	char			 cb[B64_ENCLEN(32)];	/* this connection's binding */
} F;

static const char *
dpath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", F.dir, name);
	return buf;
}

/* First certificate of a PEM file as the leaf, the rest as the untrusted chain. */
static void
peer_load(struct peer *p, const char *path, const char *serial)
{
	STACK_OF(X509) *all = pki_certs_read(path, NULL, 0);

	assert_non_null(all);
	p->cert = sk_X509_shift(all);
	assert_non_null(p->cert);
	p->chain = all;
	snprintf(p->serial, sizeof(p->serial), "%s", serial);
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, val);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* An IDevID for serial from the issuing CA, valid from nb to na seconds from now. */
static X509 *
idevid_make(X509 *ica, EVP_PKEY *ica_key, const char *serial, long nb, long na)
{
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);
	X509 *x = X509_new();
	X509_NAME *nm;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(x), 0);
	nm = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_serialNumber, MBSTRING_ASC,
	    (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ica)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), nb));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), na));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	add_ext(x, ica, NID_subject_key_identifier, "hash");
	add_ext(x, ica, NID_authority_key_identifier, "keyid:always");
	add_ext(x, ica, NID_key_usage, "critical,digitalSignature");
	add_ext(x, ica, NID_ext_key_usage, "clientAuth");
	assert_true(X509_sign(x, ica_key, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

/* Peer p: a new IDevID for serial from the issuing CA (and key) in files ica, ica_key. */
static void
peer_idevid(struct peer *p, const char *ica_path, const char *ica_key_path,
    const char *serial)
{
	char err[256];
	X509 *ica;
	EVP_PKEY *key;

	assert_non_null(ica = pki_cert_read(ica_path, err, sizeof(err)));
	assert_non_null(key = pki_key_read(ica_key_path, err, sizeof(err)));
	p->cert = idevid_make(ica, key, serial, -60, 86400);
	assert_non_null(p->chain = sk_X509_new_null());
	assert_true(sk_X509_push(p->chain, ica) == 1);
	snprintf(p->serial, sizeof(p->serial), "%s", serial);
	EVP_PKEY_free(key);
}

/* A leaf for serial naming an issuer nobody has, whose CN holds a line break. */
static X509 *
evil_make(const char *serial)
{
	EVP_PKEY *k = pki_key_new("p256", NULL, 0);
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();

	assert_non_null(k);
	assert_non_null(x);
	assert_non_null(nm);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(pki_serial_random(x), 0);
	assert_int_equal(X509_NAME_add_entry_by_NID(X509_get_subject_name(x), NID_serialNumber,
	    MBSTRING_ASC, (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, V_ASN1_UTF8STRING,
	    (const unsigned char *)"Evil CA\r\nX-Second: line", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, nm), 1);
	X509_NAME_free(nm);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	EVP_PKEY_free(k);
	return x;
}

/* The manufacturer's CRL (PEM) from its issuing CA, revoking leaf. */
static void
crl_write(const char *path, X509 *ica, EVP_PKEY *ica_key, X509 *leaf)
{
	X509_CRL *crl = X509_CRL_new();
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_TIME *t = ASN1_TIME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	FILE *f;

	assert_non_null(crl);
	assert_non_null(rv);
	assert_non_null(t);
	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ica)), 1);
	assert_non_null(X509_gmtime_adj(t, -3600));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	assert_non_null(X509_gmtime_adj(t, 30 * 86400));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(rv,
	    (ASN1_INTEGER *)X509_get0_serialNumber(leaf)), 1);
	assert_non_null(X509_gmtime_adj(t, -60));
	assert_int_equal(X509_REVOKED_set_revocationDate(rv, t), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, rv), 1);
	ASN1_TIME_free(t);
	X509V3_set_ctx(&v3, ica, NULL, NULL, crl, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always");
	assert_non_null(ext);
	assert_int_equal(X509_CRL_add_ext(crl, ext, -1), 1);
	X509_EXTENSION_free(ext);
	assert_int_equal(X509_CRL_sort(crl), 1);
	assert_true(X509_CRL_sign(crl, ica_key, EVP_sha256()) > 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	assert_int_equal(fclose(f), 0);
	X509_CRL_free(crl);
}

/* An LDevID for serial and F.key, signed by ca outside the registrar and its registry. */
static X509 *
ldevid_make(X509 *ca, EVP_PKEY *ca_key, const char *serial)
{
	struct ca_profile prof;
	unsigned char *spki = NULL, *der = NULL;
	const unsigned char *p;
	char err[256];
	X509 *x, *y;
	int n;

	memset(&prof, 0, sizeof(prof));
	prof.lifetime_days = 30;
	assert_true((n = i2d_PUBKEY(F.key, &spki)) > 0);
	x = ca_issue_ldevid(ca, ca_key, &prof, spki, (size_t)n, serial, NULL, 0, err,
	    sizeof(err));
	if (x == NULL)
		fail_msg("ca_issue_ldevid: %s", err);
	assert_true((n = i2d_X509(x, &der)) > 0);	/* see ca.h: d2i it to use it */
	p = der;
	assert_non_null(y = d2i_X509(NULL, &p, n));
	X509_free(x);
	OPENSSL_free(der);
	OPENSSL_free(spki);
	return y;
}

/* Base64 (wrapped as clients send it) of a CSR for serial with key and challenge. */
static char *
csr_b64(EVP_PKEY *key, const char *serial, const char *chal, int tamper, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	unsigned char *der = NULL;
	char *b;
	int n;

	assert_non_null(req);
	assert_non_null(nm);
	/* UTF8String as it is: a PrintableString could not hold SERIAL_NL */
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_serialNumber, V_ASN1_UTF8STRING,
	    (const unsigned char *)serial, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_ASC,
	    (const unsigned char *)"device", -1, -1, 0), 1);
	assert_int_equal(X509_REQ_set_subject_name(req, nm), 1);
	X509_NAME_free(nm);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (chal != NULL)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_pkcs9_challengePassword,
		    MBSTRING_ASC, (const unsigned char *)chal, -1), 1);
	assert_true(X509_REQ_sign(req, key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_REQ(req, &der)) > 0);
	if (tamper)
		der[n - 1] ^= 0x01;
	X509_REQ_free(req);
	assert_non_null(b = b64_encode(der, (size_t)n, 64, len));
	OPENSSL_free(der);
	return b;
}

/* The request body of row c from peer p; malloc'd, *len set. */
static char *
body_make(const struct reg_case *c, const struct peer *p, size_t *len)
{
	const char *serial = p->serial[0] != '\0' ? p->serial : F.peers[P_D0].serial;
	unsigned char junk[300];
	const char *s = NULL;

	switch (c->body) {
	case B_NONE:
		*len = 0;
		return NULL;
	case B_CSR:
		return csr_b64(F.key, serial, F.cb, 0, len);
	case B_CSR_NO_CHAL:
		return csr_b64(F.key, serial, NULL, 0, len);
	case B_CSR_WRONG_CHAL:
		return csr_b64(F.key, serial, WRONG_CB, 0, len);
	case B_CSR_OTHER_SERIAL:
		return csr_b64(F.key, F.peers[P_D1].serial, F.cb, 0, len);
	case B_CSR_SERIAL_NL:
		return csr_b64(F.key, SERIAL_NL, F.cb, 0, len);
	case B_CSR_BAD_SIG:
		return csr_b64(F.key, serial, F.cb, 1, len);
	case B_CSR_RSA1024:
		return csr_b64(F.weak, serial, F.cb, 0, len);
	case B_NOT_DER:
		assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);
		junk[0] = 0x04;		/* an OCTET STRING, never a SEQUENCE */
		return b64_encode(junk, sizeof(junk), 64, len);
	case B_NOT_B64:
		s = "this is not base64 !!!\n";
		break;
	case B_NETID:
		s = "{\"mac\":[\"02:00:5e:00:53:01\"],\"client-id\":[\"01:02:00:5e:00:53:01\"]}";
		break;
	case B_NETID_BAD:
		s = "{\"mac\":[\"02:00:5e\"]}";
		break;
	case B_NETID_OWN:
		s = "{\"mac\":[\"02:00:5e:00:53:10\"],\"duid\":[\"00:03:00:01:02:00:5e:00:53:10\"]}";
		break;
	case B_NETID_MIXED:
		s = "{\"mac\":[\"02:00:5e:00:53:11\",\"02:00:5e:00:53:01\"]}";
		break;
	}
	*len = strlen(s);
	return strdup(s);
}

/* The certificates of a base64 certs-only PKCS#7 reply. */
static STACK_OF(X509) *
reply_certs(const struct reg_case *c, const struct registrar_reply *rep)
{
	STACK_OF(X509) *certs;
	unsigned char *der;
	size_t len;
	char err[256];

	if (rep->ctype == NULL || strcmp(rep->ctype, EST_CT_CERTS) != 0 || !rep->b64)
		fail_msg("case '%s': Content-Type %s, b64 %d, want %s in base64", c->name,
		    rep->ctype ? rep->ctype : "(none)", rep->b64, EST_CT_CERTS);
	if ((der = b64_decode(rep->body, rep->len, &len, err, sizeof(err))) == NULL)
		fail_msg("case '%s': reply body: %s", c->name, err);
	if ((certs = p7_certs_decode(der, len, err, sizeof(err))) == NULL)
		fail_msg("case '%s': reply PKCS#7: %s", c->name, err);
	free(der);
	return certs;
}

/* A new LDevID in the reply: for the peer's serial and the CSR's key, by the domain CA. */
static X509 *
reply_ldevid(const struct reg_case *c, const struct registrar_reply *rep,
    const char *serial)
{
	STACK_OF(X509) *certs = reply_certs(c, rep);
	char got[PKI_SERIAL_MAX];
	X509 *x;

	if (sk_X509_num(certs) != 1)
		fail_msg("case '%s': %d certificates, want 1", c->name, sk_X509_num(certs));
	x = sk_X509_shift(certs);
	sk_X509_free(certs);
	assert_int_equal(pki_name_serial(X509_get_subject_name(x), got, sizeof(got)), 0);
	if (strcmp(got, serial) != 0)
		fail_msg("case '%s': issued to %s, want %s", c->name, got, serial);
	if (EVP_PKEY_eq(X509_get0_pubkey(x), F.key) != 1)
		fail_msg("case '%s': issued for another key", c->name);
	if (X509_verify(x, X509_get0_pubkey(F.ca)) != 1)
		fail_msg("case '%s': not signed by the domain CA", c->name);
	return x;
}

struct tally {
	int64_t	ids[64];
	size_t	n;
	int	refused;
};

static int
tally_binding(const struct registry_binding *b, void *arg)
{
	struct tally *t = arg;

	assert_true(t->n < sizeof(t->ids) / sizeof(t->ids[0]));
	t->ids[t->n++] = b->id;
	return 0;
}

static int
tally_audit(const struct registry_audit_entry *e, void *arg)
{
	struct tally *t = arg;

	if (strcmp(e->action, "enroll-refused") == 0)
		t->refused++;
	return 0;
}

/* Certificates in the registry, and enroll-refused audit entries. */
static void
registry_counts(int *certs, int *refused)
{
	struct tally t;
	char err[256];
	size_t i;
	int n;

	memset(&t, 0, sizeof(t));
	if (registry_binding_foreach(F.db, NULL, tally_binding, &t, err, sizeof(err)) == -1 ||
	    registry_audit_foreach(F.db, 0, tally_audit, &t, err, sizeof(err)) == -1)
		fail_msg("registry: %s", err);
	*certs = 0;
	for (i = 0; i < t.n; i++) {
		if (registry_cert_count(F.db, t.ids[i], &n, err, sizeof(err)) == -1)
			fail_msg("registry: %s", err);
		*certs += n;
	}
	*refused = t.refused;
}

static void
request(enum est_op op, const struct peer *p, int no_cb, const char *ctype, const char *body,
    size_t len, struct registrar_reply *rep)
{
	struct registrar_peer rp;

	memset(&rp, 0, sizeof(rp));
	rp.cert = p->cert;
	rp.chain = p->chain;
	rp.chanbind = no_cb ? NULL : F.cb;
	rp.addr = "192.0.2.7";
	memset(rep, 0x5a, sizeof(*rep));	/* registrar_handle must set it all */
	registrar_handle(F.reg, op, "", ctype, (const unsigned char *)body, len, &rp, NULL,
	    rep);
}

static void
config_make(void)
{
	char path[256], err[512], conf[2048];
	FILE *f;

	snprintf(conf, sizeof(conf),
	    "# as latchkeyctl init writes it, plus a CRL and a lab policy\n"
	    "listen = 127.0.0.1:8443\n"
	    "domain = " DOMAIN "\n"
	    "ca-cert = reg/domain-ca.pem\n"
	    "ca-key = reg/domain-ca.key\n"
	    "tls-cert = reg/registrar.pem\n"
	    "tls-key = reg/registrar.key\n"
	    "registry = registry.db\n"
	    "manufacturer-ca = lab/manufacturer-ca.pem\n"
	    "manufacturer-ca = auto/manufacturer-ca.pem\n"
	    "auto-accept = auto/manufacturer-ca.pem\n"
	    "manufacturer-crl = manufacturer.crl\n"
	    "channel-binding = required\n"
	    "ldevid-lifetime-days = 30\n"
	    "registry-sync = normal\n"
	    "crl-file = none\n");
	assert_non_null(f = fopen(dpath(path, sizeof(path), "latchkeyd.conf"), "w"));
	assert_int_equal(fputs(conf, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	config_defaults(&F.cfg);
	if (config_load(&F.cfg, path, err, sizeof(err)) == -1)
		fail_msg("config_load: %s", err);
}

static int
setup(void **state)
{
	struct registrar_reply rep;
	struct reg_case c = { .name = "setup: D2 enrolls" };
	unsigned char raw[32];
	char path[256], err[512], *b;
	X509 *ica, *expired, *dca;
	EVP_PKEY *ica_key, *dca_key;
	STACK_OF(X509) *chain;
	const char *s;
	size_t len, i;

	snprintf(F.dir, sizeof(F.dir), "/tmp/lk-registrar-XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	if (labpki_create(dpath(path, sizeof(path), "lab"), 4, NULL, NULL, &F.lab, err,
	    sizeof(err)) == -1 ||
	    labpki_create(dpath(path, sizeof(path), "other"), 1, NULL, NULL, &F.other, err,
	    sizeof(err)) == -1 ||
	    labpki_create(dpath(path, sizeof(path), "auto"), 1, NULL, NULL, &F.autolab, err,
	    sizeof(err)) == -1 ||
	    domainca_create(dpath(path, sizeof(path), "reg"), DOMAIN, "127.0.0.1", NULL, &F.dc,
	    err, sizeof(err)) == -1)
		fail_msg("fixture: %s", err);
	tu_ca_init(&F.foreign, "lk-registrar-foreign", NULL);	/* also "example.test" */
	assert_non_null(F.key = pki_key_new("p256", err, sizeof(err)));
	assert_non_null(F.weak = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024));
	assert_non_null(F.ca = pki_cert_read(F.dc.ca_cert, err, sizeof(err)));
	assert_int_equal(RAND_bytes(raw, sizeof(raw)), 1);
	assert_non_null(b = b64_encode(raw, sizeof(raw), 0, &len));
	assert_true(len < sizeof(F.cb));
	memcpy(F.cb, b, len + 1);
	free(b);

	for (i = 0; i < 4; i++)
		peer_load(&F.peers[P_D0 + i], F.lab.devices[i].cert, F.lab.devices[i].serial);
	peer_load(&F.peers[P_DX], F.other.devices[0].cert, F.other.devices[0].serial);
	peer_load(&F.peers[P_DA], F.autolab.devices[0].cert, F.autolab.devices[0].serial);
	F.peers[P_EVIL].cert = evil_make(F.peers[P_D0].serial);
	snprintf(F.peers[P_EVIL].serial, sizeof(F.peers[0].serial), "%s", F.peers[P_D0].serial);

	/* The manufacturer's tooling: an expired IDevID for D0, a CRL revoking D3's. */
	assert_non_null(ica = pki_cert_read(F.lab.manufacturer_ica, err, sizeof(err)));
	assert_non_null(ica_key = pki_key_read(F.lab.manufacturer_ica_key, err, sizeof(err)));
	s = F.peers[P_D0].serial;
	expired = idevid_make(ica, ica_key, s, -2L * 365 * 86400, -365L * 86400);
	assert_non_null(chain = sk_X509_new_null());
	assert_true(X509_up_ref(ica) && sk_X509_push(chain, ica) == 1);
	F.peers[P_D0_EXPIRED].cert = expired;
	F.peers[P_D0_EXPIRED].chain = chain;
	snprintf(F.peers[P_D0_EXPIRED].serial, sizeof(F.peers[0].serial), "%s", s);
	crl_write(dpath(path, sizeof(path), "manufacturer.crl"), ica, ica_key,
	    F.peers[P_D3].cert);
	X509_free(ica);
	EVP_PKEY_free(ica_key);
	/* Two manufacturers, one serial: B (auto-accepted) and A again issue D0's and D1's. */
	peer_idevid(&F.peers[P_D0_B], F.autolab.manufacturer_ica,
	    F.autolab.manufacturer_ica_key, F.peers[P_D0].serial);
	peer_idevid(&F.peers[P_D0_A2], F.lab.manufacturer_ica, F.lab.manufacturer_ica_key,
	    F.peers[P_D0].serial);
	peer_idevid(&F.peers[P_D1_B], F.autolab.manufacturer_ica,
	    F.autolab.manufacturer_ica_key, F.peers[P_D1].serial);

	/* LDevIDs the registry never issued: the domain CA's own, a look-alike CA's. */
	assert_non_null(dca_key = pki_key_read(F.dc.ca_key, err, sizeof(err)));
	assert_non_null(dca = pki_cert_read(F.dc.ca_cert, err, sizeof(err)));
	F.peers[P_LD_STRAY].cert = ldevid_make(dca, dca_key, F.peers[P_D0].serial);
	snprintf(F.peers[P_LD_STRAY].serial, sizeof(F.peers[0].serial), "%s",
	    F.peers[P_D0].serial);
	X509_free(dca);
	EVP_PKEY_free(dca_key);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(F.foreign.cert),
	    X509_get_subject_name(F.ca)), 0);
	F.peers[P_LD_FOREIGN].cert = ldevid_make(F.foreign.cert, F.foreign.key,
	    F.peers[P_D2].serial);
	snprintf(F.peers[P_LD_FOREIGN].serial, sizeof(F.peers[0].serial), "%s",
	    F.peers[P_D2].serial);

	/* latchkeyctl init, then claim D0, D2, D3; the registrar (and its signer) last. */
	config_make();
	if ((F.db = registry_open(F.cfg.registry, REGISTRY_CREATE | REGISTRY_FAST, err,
	    sizeof(err))) == NULL)
		fail_msg("registry_open: %s", err);
	for (i = 0; i < 3; i++) {
		s = F.peers[i == 0 ? P_D0 : i == 1 ? P_D2 : P_D3].serial;
		if (registry_claim(F.db, s, "admin:test", err, sizeof(err)) == -1)
			fail_msg("claim %s: %s", s, err);
	}
	if ((F.reg = registrar_new(&F.cfg, err, sizeof(err))) == NULL)
		fail_msg("registrar_new: %s", err);

	/* D2 enrolls: its LDevID is the peer of the LDevID rows. */
	b = csr_b64(F.key, F.peers[P_D2].serial, F.cb, 0, &len);
	request(EST_OP_SIMPLEENROLL, &F.peers[P_D2], 0, CT_PKCS10, b, len, &rep);
	free(b);
	if (rep.status != 200)
		fail_msg("setup: D2 enrolls: %d %.*s", rep.status, (int)rep.len, rep.body);
	F.peers[P_LD2].cert = reply_ldevid(&c, &rep, F.peers[P_D2].serial);
	snprintf(F.peers[P_LD2].serial, sizeof(F.peers[0].serial), "%s", F.peers[P_D2].serial);
	registrar_reply_free(&rep);
	return 0;
}

static int
teardown(void **state)
{
	size_t i;

	registrar_free(F.reg);
	registry_close(F.db);
	for (i = 0; i < P_COUNT; i++) {
		X509_free(F.peers[i].cert);
		sk_X509_pop_free(F.peers[i].chain, X509_free);
	}
	EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.weak);
	X509_free(F.ca);
	tu_ca_clear(&F.foreign);
	labpki_result_free(&F.lab);
	labpki_result_free(&F.other);
	labpki_result_free(&F.autolab);
	if (F.dir[0] != '\0')
		tu_rmtree(F.dir);
	return 0;
}

static int
find_netid(const char *kind, const char *value, void *arg)
{
	char kv[600];

	snprintf(kv, sizeof(kv), "%s=%s", kind, value);
	return strcmp(kv, (const char *)arg) == 0;
}

/* Row c's registry change before its request. */
static void
pre_run(const struct reg_case *c, enum pre pre)
{
	char err[256], fp[PKI_FP_LEN];
	X509 *x;
	int r;

	switch (pre) {
	case PRE_NONE:
		break;
	case PRE_CLAIM_D2:
		/* whatever it answers, it must not re-admit the device */
		r = registry_claim(F.db, F.peers[P_D2].serial, "admin:test", err, sizeof(err));
		(void)r;	/* 2: refused, says why (test_registry.c) */
		break;
	case PRE_CLAIM_D1_LAB:
		assert_non_null(x = pki_cert_read(F.lab.manufacturer_ca, err, sizeof(err)));
		assert_int_equal(pki_cert_fingerprint(x, fp), 0);
		X509_free(x);
		if (registry_claim_for(F.db, F.peers[P_D1].serial, fp, "admin:test", err,
		    sizeof(err)) != 0)
			fail_msg("case '%s': claim: %s", c->name, err);
		break;
	case PRE_READMIT_D2:
		if (registry_readmit(F.db, F.peers[P_D2].serial, NULL, "repaired", "admin:test",
		    err, sizeof(err)) != 0)
			fail_msg("case '%s': readmit: %s", c->name, err);
		break;
	case PRE_D2_QUARANTINED:
		if (registry_revoked_netids_foreach(F.db, find_netid,
		    (void *)"mac=02005e005301", err, sizeof(err)) != 1)
			fail_msg("case '%s': D2's MAC left the revoked set", c->name);
		break;
	}
}

/* A text/plain refusal: exactly one line, holding the expected words. */
static void
check_text(const struct reg_case *c, const struct registrar_reply *rep, const char *body)
{
	const char *nl;

	if (rep->ctype != NULL || rep->b64)
		fail_msg("case '%s': Content-Type %s, b64 %d, want text/plain", c->name,
		    rep->ctype != NULL ? rep->ctype : "(none)", rep->b64);
	nl = memchr(body, '\n', rep->len);
	if (rep->len < 2 || nl != body + rep->len - 1 || memchr(body, '\r', rep->len) != NULL)
		fail_msg("case '%s': reason is not one line: \"%s\"", c->name, body);
	if (c->want_text != NULL && strcasestr(body, c->want_text) == NULL)
		fail_msg("case '%s': reason \"%.*s\" lacks \"%s\"", c->name, (int)rep->len - 1,
		    body, c->want_text);
}

/* One row: its revocation and registry change, the request, the checks of the answer. */
static void
run_case(const struct reg_case *c, enum pre pre, enum who keep)
{
	struct registrar_reply rep;
	STACK_OF(X509) *certs;
	const struct peer *p = &F.peers[c->peer];
	char serial[PKI_SERIAL_MAX];
	int64_t bid;
	size_t len;
	char err[256], *b, *text;
	int certs0, refused0, certs1, refused1, issued;
	X509 *x;

	if (c->revoke != P_NONE && registry_binding_revoke(F.db, F.peers[c->revoke].serial,
	    "keyCompromise", "admin:test", &bid, err, sizeof(err)) != 0)
		fail_msg("case '%s': revoke: %s", c->name, err);
	pre_run(c, pre);
	registry_counts(&certs0, &refused0);
	b = body_make(c, p, &len);
	request(c->op, p, c->no_cb, c->ctype, b, len, &rep);
	free(b);
	/* the reply as text, NUL-terminated, for messages and searching */
	assert_non_null(text = malloc(rep.len + 1));
	if (rep.len > 0)
		memcpy(text, rep.body, rep.len);
	text[rep.len] = '\0';
	if (rep.status != c->want)
		fail_msg("case '%s': HTTP %d, want %d (%s)", c->name, rep.status, c->want,
		    text);
	issued = 0;
	switch (c->check) {
	case C_TEXT:
		check_text(c, &rep, text);
		break;
	case C_ISSUED:
		x = reply_ldevid(c, &rep, p->serial);
		if (keep != P_NONE) {
			snprintf(serial, sizeof(serial), "%s", p->serial);
			X509_free(F.peers[keep].cert);
			F.peers[keep].cert = x;
			memcpy(F.peers[keep].serial, serial, sizeof(serial));
		} else
			X509_free(x);
		issued = 1;
		break;
	case C_CACERTS:
		certs = reply_certs(c, &rep);
		if (sk_X509_num(certs) != 1 || X509_cmp(sk_X509_value(certs, 0), F.ca))
			fail_msg("case '%s': cacerts is not the domain CA", c->name);
		sk_X509_pop_free(certs, X509_free);
		break;
	case C_JSON:
		if (rep.ctype == NULL || strcmp(rep.ctype, CT_JSON) != 0 ||
		    strcasestr(text, c->want_text) == NULL)
			fail_msg("case '%s': %s \"%s\" lacks %s", c->name, rep.ctype, text,
			    c->want_text);
		break;
	case C_EMPTY:
		if (rep.len != 0)
			fail_msg("case '%s': body \"%s\", want none", c->name, text);
		break;
	}
	free(text);
	registrar_reply_free(&rep);
	assert_null(rep.body);
	/* Durable before the answer: issued means in the registry, refused means not. */
	registry_counts(&certs1, &refused1);
	if (certs1 - certs0 != issued)
		fail_msg("case '%s': %d certificates added to the registry, want %d",
		    c->name, certs1 - certs0, issued);
	if (refused1 - refused0 != c->audited)
		fail_msg("case '%s': %d enroll-refused audit entries, want %d", c->name,
		    refused1 - refused0, c->audited);
}

static void
test_registrar_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], PRE_NONE, P_NONE);
	for (i = 0; i < sizeof(trust_cases) / sizeof(trust_cases[0]); i++)
		run_case(&trust_cases[i].c, trust_cases[i].pre, trust_cases[i].keep);
	/* The registrar's own view of the revocation agrees with the registry. */
	assert_int_equal(registrar_binding_revoked(F.reg, F.peers[P_DA].serial), 1);
	assert_int_equal(registrar_binding_revoked(F.reg, F.peers[P_D0].serial), 0);
	assert_int_equal(registrar_pending(F.reg), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registrar_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
