/* cmd_crl: `latchkeyctl crl`, the CRL that latchkeyd keeps current, shown or exported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/crl.h"
#include "enroll/common/voucher.h"
#include "enroll/latchkeyctl/ctl.h"

#define CRL_FILE_MAX	(64u << 20)

/* t as "YYYY-MM-DDTHH:MM:SSZ" into out, or "-" when absent or unreadable. */
static void
asn1_iso(const ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1 ||
	    voucher_time_format((int64_t)timegm(&tm), out, len) == -1)
		snprintf(out, len, "-");
}

/* The entry's RFC 5280 reasonCode by name, "7" for the unused value, "-" for none. */
static const char *
reason_of(X509_REVOKED *rv)
{
	ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(rv, NID_crl_reason, NULL, NULL);
	long v = e != NULL ? ASN1_ENUMERATED_get(e) : -1;
	const char *name;

	ASN1_ENUMERATED_free(e);
	if (v == 7)
		return "7";
	name = v >= 0 && v <= CRL_RC_AA_COMPROMISE ? crl_reason_name((int)v) : NULL;
	return name != NULL ? name : "-";
}

/* crl [--file F] [--pem] [--json]: its own options (no --db or -v after the command). */
int
cmd_crl(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "pem", no_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char path[4096], upd[32], nxt[32], when[32], issuer[256];
	const char *file = NULL;
	unsigned char *buf = NULL;
	const unsigned char *p;
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *revs;
	ASN1_INTEGER *num;
	json_t *j = NULL, *arr;
	FILE *f = NULL;
	size_t len;
	int ch, pem = 0, rc = 1, i;

	ctl_getopt_reset();
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'f':
			file = optarg;
			break;
		case 'p':
			pem = 1;
			break;
		case 'j':
			ctl->json = 1;
			break;
		case 'h':
			fputs("usage: latchkeyctl [--db PATH] crl [--file F] [--pem] [--json]\n",
			    stdout);
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("crl: unexpected argument '%s'", argv[optind]);
	if (file == NULL) {
		ctl_db_path(ctl->db, "crl.der", path, sizeof(path));
		file = path;
	}
	if ((f = fopen(file, "rb")) == NULL || (buf = malloc(CRL_FILE_MAX + 1)) == NULL) {
		ctl_warnx("crl: %s: cannot read (is latchkeyd running with this registry?)",
		    file);
		goto out;
	}
	len = fread(buf, 1, CRL_FILE_MAX + 1, f);
	p = buf;
	if (len == 0 || len > CRL_FILE_MAX ||
	    (crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL) {
		ctl_warnx("crl: %s: not a DER CRL", file);
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
	if (ctl->json) {
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
		if (ctl->json && j != NULL)
			json_array_append_new(json_object_get(j, "revoked"), json_pack(
			    "{s:s, s:s, s:s}", "serial", hex ? hex : "?", "revoked_at", when,
			    "reason", reason_of(rv)));
		else if (!ctl->json)
			printf("  %-34s %s %s\n", hex ? hex : "?", when, reason_of(rv));
		OPENSSL_free(hex);
		BN_free(bn);
	}
	if (ctl->json) {
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
