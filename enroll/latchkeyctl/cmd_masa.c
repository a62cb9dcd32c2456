/*
 * cmd_masa: the MASA role's sales records (enroll/store/masadb.h). "masa authorize" says
 * which owner domain may obtain vouchers for which serials (RFC 8995 §5.5.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "enroll/common/voucher.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/masadb.h"

/*
 * masa authorize (--serial S ... | --file F) --domain-ca FILE [--masa-db PATH]: record that
 * the owner domain whose CA is FILE may obtain vouchers for these serials (RFC 8995 §5.5.4
 * sales integration). The first certificate of FILE is the domain CA that vouchers pin.
 */
int
cmd_masa(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "serial", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'f' },
		{ "domain-ca", required_argument, NULL, 'c' },
		{ "masa-db", required_argument, NULL, 'm' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *file = NULL, *ca_file = NULL, *dbpath;
	char **list = NULL, **serials = NULL, actor[300], err[512], fp[PKI_FP_LEN];
	struct masadb *db = NULL;
	unsigned char *der = NULL;
	X509 *ca = NULL;
	json_t *j = NULL, *done = NULL, *noop = NULL;
	size_t n = 0, ns = 0, len, i;
	int ch, r, rc = 1, failed = 0;

	dbpath = ctl_getenv("LATCHKEY_MASA_DB", CTL_DEFAULT_MASA_DB);
	if (argc < 2 || strcmp(argv[1], "authorize") != 0) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
			return ctl_help(ctl);
		return ctl_usage("masa: expected 'masa authorize --serial S --domain-ca FILE'");
	}
	if ((serials = calloc((size_t)argc, sizeof(*serials))) == NULL) {
		ctl_warnx("out of memory");
		return 1;
	}
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc - 1, argv + 1, "s:f:c:m:", lo)) != -1) {
		switch (ch) {
		case 's':
			if (!ctl_serial_valid(optarg)) {
				rc = ctl_usage("masa authorize: invalid serial '%.64s'", optarg);
				goto out;
			}
			serials[ns++] = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'c':
			ca_file = optarg;
			break;
		case 'm':
			dbpath = optarg;
			break;
		case 'h':
			rc = ctl_help(ctl);
			goto out;
		default:
			rc = CTL_EXIT_USAGE;
			goto out;
		}
	}
	if (optind < argc - 1) {
		rc = ctl_usage("masa authorize: unexpected argument '%s'", argv[1 + optind]);
		goto out;
	}
	if (ca_file == NULL) {
		rc = ctl_usage("masa authorize: --domain-ca FILE is required");
		goto out;
	}
	if (ns == 0 && file == NULL) {
		rc = ctl_usage("masa authorize: no serial given (--serial S or --file F)");
		goto out;
	}
	if (file != NULL && ctl_serials_read(file, &list, &n) == -1)
		goto out;
	if ((ca = pki_cert_read(ca_file, err, sizeof(err))) == NULL) {
		ctl_warnx("%s", err);
		goto out;
	}
	if (voucher_cert_der(ca, &der, &len) == -1) {
		ctl_warnx("%s: cannot encode the certificate", ca_file);
		goto out;
	}
	pki_cert_fingerprint(ca, fp);
	if ((db = masadb_open(dbpath, MASADB_CREATE, err, sizeof(err))) == NULL) {
		ctl_warnx("%s", err);
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	if (ctl->json && ((j = json_object()) == NULL || (done = json_array()) == NULL ||
	    (noop = json_array()) == NULL)) {
		ctl_warnx("out of memory");
		goto out;
	}
	for (i = 0; i < ns + n; i++) {
		const char *sn = i < ns ? serials[i] : list[i - ns];

		r = masadb_authorize(db, sn, der, len, fp, actor, err, sizeof(err));
		if (r == -1) {
			ctl_warnx("masa authorize %s: %s", sn, err);
			failed = 1;
			continue;
		}
		if (ctl->json)
			json_array_append_new(r == 0 ? done : noop, ctl_jstr(sn));
		else
			printf("%s %s for domain CA %s\n", r == 0 ? "authorized" :
			    "already authorized", sn, fp);
	}
	if (ctl->json) {
		json_object_set_new(j, "authorized", done);
		json_object_set_new(j, "already_authorized", noop);
		json_object_set_new(j, "domain_ca", ctl_jstr(fp));
		json_object_set_new(j, "masa_db", ctl_jstr(dbpath));
		done = noop = NULL;
		if (ctl_json_print(j) != 0)
			failed = 1;
		j = NULL;
	}
	rc = failed;
out:
	json_decref(j);
	json_decref(done);
	json_decref(noop);
	masadb_close(db);
	X509_free(ca);
	free(der);
	ctl_serials_free(list, n);
	free(serials);
	return rc;
}
