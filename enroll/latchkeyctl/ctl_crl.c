/* ctl_crl: see ctl_crl.h. */
#include "enroll/latchkeyctl/ctl_crl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define CRL_FILE_MAX	(64u << 20)

static int
asn1_iso(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return snprintf(out, len, "-"), -1;
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return 0;
}

static const char *
reason_of(X509_REVOKED *rv)
{
	static const char *const names[] = { "unspecified", "keyCompromise", "cACompromise",
	    "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold",
	    "7", "removeFromCRL", "privilegeWithdrawn", "aACompromise" };
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
	long v = e != NULL ? ASN1_ENUMERATED_get(e) : -1;

	ASN1_ENUMERATED_free(e);
	return v >= 0 && v <= 10 ? names[v] : "-";
}

int
ctl_crl_main(const char *db, int json, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "pem", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char path[4096], upd[32], nxt[32], when[32], issuer[256];
	const char *file = NULL, *slash;
	unsigned char *buf = NULL;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *revs;
	ASN1_INTEGER *num;
	json_t *j = NULL, *arr;
	FILE *f = NULL;
	size_t len;
	int ch, pem = 0, rc = 1, i;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'p':
			pem = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs("usage: latchkeyctl [--db PATH] crl [--file F] [--pem] [--json]\n"
			    CTL_CRL_HELP, stdout);
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "latchkeyctl: crl: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (file == NULL) {
		slash = strrchr(db, '/');
		snprintf(path, sizeof(path), "%.*s/crl.der", slash ? (int)(slash - db) : 1,
		    slash ? db : ".");
		file = path;
	}
	if ((f = fopen(file, "rb")) == NULL || (buf = malloc(CRL_FILE_MAX + 1)) == NULL) {
		fprintf(stderr, "latchkeyctl: crl: %s: cannot read (is latchkeyd running with "
		    "this registry?)\n", file);
		goto out;
	}
	len = fread(buf, 1, CRL_FILE_MAX + 1, f);
	p = buf;
	if (len == 0 || len > CRL_FILE_MAX ||
	    (crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL) {
		fprintf(stderr, "latchkeyctl: crl: %s: not a DER CRL\n", file);
		goto out;
	}
	if (pem) {
		rc = PEM_write_X509_CRL(stdout, crl) == 1 ? 0 : 1;
		goto out;
	}
	X509_NAME_oneline(X509_CRL_get_issuer(crl), issuer, sizeof(issuer));
	asn1_iso(X509_CRL_get0_lastUpdate(crl), upd, sizeof(upd));
	asn1_iso(X509_CRL_get0_nextUpdate(crl), nxt, sizeof(nxt));
	num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	revs = X509_CRL_get_REVOKED(crl);
	if (json) {
		arr = json_array();
		j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "file", file, "issuer", issuer,
		    "this_update", upd, "next_update", nxt, "crl_number",
		    (json_int_t)(num ? ASN1_INTEGER_get(num) : -1), "revoked", arr);
	} else
		printf("issuer       %s\nthisUpdate   %s\nnextUpdate   %s\nCRL number   %ld\n"
		    "revoked      %d\n", issuer, upd, nxt, num ? ASN1_INTEGER_get(num) : -1L,
		    sk_X509_REVOKED_num(revs));
	ASN1_INTEGER_free(num);
	for (i = 0; i < sk_X509_REVOKED_num(revs); i++) {
		X509_REVOKED *rv = sk_X509_REVOKED_value(revs, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rv), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;

		asn1_iso(X509_REVOKED_get0_revocationDate(rv), when, sizeof(when));
		if (json && j != NULL)
			json_array_append_new(json_object_get(j, "revoked"), json_pack(
			    "{s:s, s:s, s:s}", "serial", hex ? hex : "?", "revoked_at", when,
			    "reason", reason_of(rv)));
		else if (!json)
			printf("  %-34s %s %s\n", hex ? hex : "?", when, reason_of(rv));
		OPENSSL_free(hex);
		BN_free(bn);
	}
	if (json) {
		if (j == NULL || json_dumpf(j, stdout, JSON_INDENT(2)) == -1)
			goto out;
		putchar('\n');
	}
	rc = 0;
out:
	json_decref(j);
	X509_CRL_free(crl);
	free(buf);
	if (f != NULL)
		fclose(f);
	return rc;
}
