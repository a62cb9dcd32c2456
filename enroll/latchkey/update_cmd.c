/*
 * update_cmd: `latchkey update`, verified updates (enroll/agent/update.h does the work).
 */
#include "enroll/latchkey/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certs/tpmkey.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/onboard.h"
#include "enroll/agent/update.h"

static void
update_usage(FILE *f)
{
	fprintf(f,
"usage: latchkey update --package NAME --class CLASS --install-command CMD\n"
"                       [--state-dir DIR] [--update-url URL] [--timeout SECS]\n"
"                       [--tpm TCTI] [--no-report] [--json] [-q]\n"
"\n"
"Installs the newest update of package NAME only after verifying it. The update server\n"
"is URL, else the one discovery stored in DIR/onboard.json (DHCP vendor option or mDNS\n"
"_latchkey-update._tcp, see `latchkey onboard`). From URL/NAME/manifest.cms (TLS\n"
"verified against DIR/domain-ca.pem, the LDevID DIR/ldevid.pem as client certificate)\n"
"it takes the signed manifest and checks, refusing at the first failure:\n"
"  - a CMS SignedData (RFC 5652) with exactly one signer and a valid signature;\n"
"  - the signer chains to the domain CA (DIR/domain-ca.pem), has extendedKeyUsage\n"
"    codeSigning (latchkeyctl update-signer) and is not revoked on the domain CRL\n"
"    fetched from its CRL distribution point (RFC 5280); when the CRL cannot be fetched\n"
"    a cached one counts while current, else the signer's OCSP responder (RFC 6960);\n"
"    with neither, nothing is installed (exit 1: fail closed);\n"
"  - the manifest: {\"manifest-version\":1, \"package\", \"version\" (Debian),\n"
"    \"sha256\", \"size\", \"not-before\", \"expires\", \"targets\", \"url\"}, strict;\n"
"    now within not-before..expires, package = NAME, CLASS among targets, version\n"
"    newer than the installed one (dpkg order; the same version: nothing to do);\n"
"  - the payload (URL/NAME/<url>): at most size octets are read, its size and SHA-256\n"
"    must match the manifest.\n"
"Then it runs `/bin/sh -c CMD sh PAYLOAD` (also LATCHKEY_UPDATE_PACKAGE,\n"
"LATCHKEY_UPDATE_VERSION, LATCHKEY_UPDATE_PAYLOAD in its environment); exit 0 means\n"
"installed, and only then DIR/update/NAME.json records the version (0600). This defends\n"
"against what The Update Framework lists: arbitrary installation (signature, hash),\n"
"rollback (monotonic version per package), indefinite freeze (expires), endless data\n"
"(size limit), mix-and-match (one signed manifest names package, version and hash).\n"
"Every decision is appended to DIR/update/audit.jsonl and reported to the server\n"
"(POST /.well-known/latchkey/update-report, audited in its registry).\n"
"\n"
"  --package NAME         the package ([a-z0-9][a-z0-9.+-]*, at most 64)\n"
"  --class CLASS          this device's class, matched against the manifest's targets\n"
"  --install-command CMD  the shell command that installs the verified payload ($1)\n"
"  --state-dir DIR        the device's state (default " ONBOARD_STATE_DIR_DEFAULT ")\n"
"  --update-url URL       the update server's base URL, e.g.\n"
"                         https://HOST:PORT/.well-known/latchkey/update\n"
"  --timeout SECS         bound of each fetch (default %d)\n"
"  --tpm TCTI             the TPM holding the LDevID key (enrolled with --key-store\n"
"                         tpm; default TPM2OPENSSL_TCTI, else /dev/tpmrm0); the key\n"
"                         may also be a pkcs11: URI, as for latchkey status\n"
"  --no-report            do not report the decision to the server\n"
"  --json                 one JSON object on stdout\n"
"  -q                     no progress on stderr\n"
"\n"
"exit status: 0 installed or already current, 3 refused (one line says why; nothing was\n"
"installed), 1 error (server unreachable, install command failed, ...), 2 usage error.\n",
	    UPDATE_TIMEOUT_DEFAULT);
}

static void
update_progress(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "latchkey update: %s\n", line);
}

int
cmd_update(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "package", required_argument, NULL, 'p' },
		{ "class", required_argument, NULL, 'c' },
		{ "install-command", required_argument, NULL, 'i' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "update-url", required_argument, NULL, 'u' },
		{ "timeout", required_argument, NULL, 't' },
		{ "no-report", no_argument, NULL, 'n' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct update_opts o;
	struct update_result res;
	enum update_decision d;
	int ch, json = 0, quiet = 0;
	const char *tcti = NULL;
	char *end, err[512];
	long t;

	memset(&o, 0, sizeof(o));
	o.state_dir = ONBOARD_STATE_DIR_DEFAULT;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "qh", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': o.package = optarg; break;
		case 'c': o.device_class = optarg; break;
		case 'i': o.install_cmd = optarg; break;
		case 'd': o.state_dir = optarg; break;
		case 'u': o.url = optarg; break;
		case 'n': o.no_report = 1; break;
		case 'T': tcti = optarg; break;
		case 'j': json = 1; break;
		case 'q': quiet = 1; break;
		case 't':
			t = strtol(optarg, &end, 10);
			if (*end != '\0' || t < 1 || t > 3600) {
				fprintf(stderr, "latchkey update: --timeout: 1 to 3600 seconds\n");
				return EXIT_USAGE;
			}
			o.timeout_s = (unsigned)t;
			break;
		case 'h':
			update_usage(stdout);
			return 0;
		default:
			update_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "latchkey update: unexpected argument '%s'\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (o.package == NULL || o.device_class == NULL || o.install_cmd == NULL ||
	    o.install_cmd[0] == '\0') {
		fprintf(stderr, "latchkey update: --package, --class and --install-command are "
		    "required\n");
		return EXIT_USAGE;
	}
	if (!manifest_package_valid(o.package)) {
		fprintf(stderr, "latchkey update: --package '%.64s': not a package name\n",
		    o.package);
		return EXIT_USAGE;
	}
	if (!quiet)
		o.progress = update_progress;
	/* An LDevID key in a TPM (enroll --key-store tpm): the TPM first, or one clear error. */
	{
		struct agent_opts ao;

		memset(&ao, 0, sizeof(ao));
		ao.out_dir = o.state_dir;
		ao.tpm_tcti = tcti;
		if (agent_tpm_prepare(&ao, err, sizeof(err)) == -1) {
			fprintf(stderr, "latchkey update: %s\n", err);
			return 1;
		}
	}
	agent_global_init();
	d = update_run(&o, &res);
	agent_global_cleanup();
	tpmkey_close();
	if (json) {
		json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "package",
		    o.package, "decision", update_decision_name(d), "reason", res.reason,
		    "version", res.version, "installed_before", res.installed, "server",
		    res.url, "source", res.source, "signer", res.signer, "reported",
		    res.reported);
		char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

		if (s != NULL)
			printf("%s\n", s);
		free(s);
		json_decref(j);
	}
	switch (d) {
	case UPDATE_INSTALLED:
	case UPDATE_CURRENT:
		if (!json)
			printf("%s\n", res.reason);
		return 0;
	case UPDATE_REFUSED:
		fprintf(stderr, "latchkey update: refused: %s\n", res.reason);
		return UPDATE_EXIT_REFUSED;
	default:
		fprintf(stderr, "latchkey update: %s\n", res.reason);
		return 1;
	}
}
