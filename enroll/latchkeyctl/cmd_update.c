/*
 * cmd_update: verified updates, the publisher's side (issue #20). update-signer issues an
 * update-signing certificate from the domain CA (EKU id-kp-codeSigning) and records it in
 * the registry as the binding "update-signer:NAME", so `latchkeyctl revoke
 * update-signer:NAME --reason R` puts it on the domain CRL (and OCSP) that latchkeyd
 * publishes, like any LDevID. update-sign wraps a manifest (enroll/common/manifest.h),
 * checked first, in a CMS SignedData (certs/codesign.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "certs/certder.h"
#include "certs/codesign.h"
#include "certs/pki.h"
#include "enroll/common/manifest.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

#define UPDATE_SIGNER_PREFIX	"update-signer:"

/* update-signer --dir DIR --name NAME --crl-url URL [--ocsp-url URL] [--days N] --out P */
int
cmd_update_signer(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "name", required_argument, NULL, 'n' },
		{ "crl-url", required_argument, NULL, 'c' },
		{ "ocsp-url", required_argument, NULL, 'o' },
		{ "days", required_argument, NULL, 'y' },
		{ "out", required_argument, NULL, 'O' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = NULL, *name = NULL, *crl = NULL, *ocsp = NULL, *out = NULL;
	char path[4096], kpath[4096], cpath[4096], serial[64], cserial[64], err[512];
	char actor[300], fp[PKI_FP_LEN], details[512];
	struct registry_enrollment e;
	struct registry *reg = NULL;
	X509 *ca = NULL, *x = NULL;
	EVP_PKEY *cakey = NULL, *key = NULL;
	unsigned char *der = NULL;
	unsigned days = 365;
	int64_t bid;
	int ch, n, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'c': crl = optarg; break;
		case 'o': ocsp = optarg; break;
		case 'O': out = optarg; break;
		case 'y':
			days = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage("update-signer: unexpected argument '%s'", argv[optind]);
	if (dir == NULL || name == NULL || out == NULL || crl == NULL)
		return ctl_usage("update-signer: --dir DIR, --name NAME, --crl-url URL and "
		    "--out PREFIX are required");
	if ((size_t)snprintf(serial, sizeof(serial), "%s%s", UPDATE_SIGNER_PREFIX, name) >=
	    sizeof(serial) || !ctl_serial_valid(serial))
		return ctl_usage("update-signer: invalid --name '%.64s' (letters, digits and "
		    "'()+,-./:=? , at most %zu)", name, sizeof(serial) - 1 -
		    strlen(UPDATE_SIGNER_PREFIX));
	snprintf(path, sizeof(path), "%s/domain-ca.pem", dir);
	if ((ca = pki_cert_read(path, err, sizeof(err))) == NULL) {
		ctl_warnx("update-signer: %s", err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/domain-ca.key", dir);
	if ((cakey = pki_key_read(path, err, sizeof(err))) == NULL) {
		ctl_warnx("update-signer: %s (the domain CA key must be a file here)", err);
		goto out;
	}
	snprintf(kpath, sizeof(kpath), "%s.key", out);
	snprintf(cpath, sizeof(cpath), "%s.pem", out);
	if ((key = pki_key_new("p256", err, sizeof(err))) == NULL ||
	    (x = codesign_issue(ca, cakey, key, serial, days, crl, ocsp, err,
	    sizeof(err))) == NULL) {
		ctl_warnx("update-signer: %s", err);
		goto out;
	}
	if ((reg = ctl_open(ctl, 0)) == NULL)
		goto out;
	memset(&e, 0, sizeof(e));
	if ((n = i2d_X509(x, &der)) <= 0 || certder_info(der, (size_t)n, cserial,
	    sizeof(cserial), &e.not_before, &e.not_after) == -1 ||
	    pki_cert_fingerprint(x, fp) == -1) {
		ctl_warnx("update-signer: encode certificate");
		goto out;
	}
	ctl_actor(actor, sizeof(actor));
	snprintf(details, sizeof(details), "{\"fingerprint\":\"%s\",\"crl-url\":\"%.200s\"}",
	    fp, crl);
	e.device_serial = serial;
	e.domain = "";
	e.idevid_fp = fp;		/* the binding's identity: the signer itself */
	e.authorized_by = "update-signer";
	e.cert_serial = cserial;
	e.cert_der = der;
	e.cert_len = (size_t)n;
	e.actor = actor;
	e.action = "update-signer";
	e.details = details;
	e.require_claim = 0;
	/* the key first, 0600; the certificate is only recorded and written once it is */
	if (pki_key_write(kpath, key, 0, err, sizeof(err)) == -1) {
		ctl_warnx("update-signer: %s", err);
		goto out;
	}
	if ((n = registry_enroll_commit(reg, &e, &bid, err, sizeof(err))) != 0) {
		ctl_warnx("update-signer: %s", err);
		unlink(kpath);
		goto out;
	}
	if (pki_certs_write(cpath, &x, 1, 0, err, sizeof(err)) == -1) {
		ctl_warnx("update-signer: %s", err);
		goto out;
	}
	if (ctl->json)
		rc = ctl_json_print(json_pack("{s:o, s:o, s:o, s:s, s:s}", "signer",
		    ctl_jstr(serial), "cert", ctl_jpath(cpath), "key", ctl_jpath(kpath),
		    "cert_serial", cserial, "fingerprint", fp));
	else {
		printf("update signer %s: certificate %s, key %s (serial %s; revoke with "
		    "'latchkeyctl revoke %s --reason R')\n", serial, cpath, kpath, cserial,
		    serial);
		rc = 0;
	}
out:
	OPENSSL_free(der);
	registry_close(reg);
	X509_free(x);
	X509_free(ca);
	EVP_PKEY_free(key);
	EVP_PKEY_free(cakey);
	return rc;
}

/* update-sign --cert C --key K --manifest M.json --out M.cms */
int
cmd_update_sign(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cert", required_argument, NULL, 'c' },
		{ "key", required_argument, NULL, 'k' },
		{ "manifest", required_argument, NULL, 'm' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cpath = NULL, *kpath = NULL, *mpath = NULL, *out = NULL;
	struct manifest m;
	unsigned char *json = NULL, *der = NULL;
	size_t jlen = 0, dlen = 0;
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	char err[512];
	int ch, force = 0, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'c': cpath = optarg; break;
		case 'k': kpath = optarg; break;
		case 'm': mpath = optarg; break;
		case 'o': out = optarg; break;
		case 'f': force = 1; break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind != argc)
		return ctl_usage("update-sign: unexpected argument '%s'", argv[optind]);
	if (cpath == NULL || kpath == NULL || mpath == NULL || out == NULL)
		return ctl_usage("update-sign: --cert, --key, --manifest and --out are required");
	if ((json = pki_file_read(mpath, MANIFEST_MAX, &jlen, err, sizeof(err))) == NULL ||
	    manifest_parse((const char *)json, jlen, &m, err, sizeof(err)) == -1 ||
	    (cert = pki_cert_read(cpath, err, sizeof(err))) == NULL ||
	    (key = pki_key_read(kpath, err, sizeof(err))) == NULL ||
	    codesign_sign(cert, key, json, jlen, &der, &dlen, err, sizeof(err)) == -1 ||
	    pki_file_write(out, der, dlen, 0644, force, err, sizeof(err)) == -1) {
		ctl_warnx("update-sign: %s", err);
		goto out;
	}
	if (ctl->json)
		rc = ctl_json_print(json_pack("{s:o, s:s, s:s}", "signed", ctl_jpath(out),
		    "package", m.package, "version", m.version));
	else {
		printf("signed %s %s: %s\n", m.package, m.version, out);
		rc = 0;
	}
out:
	free(json);
	free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}
