/*
 * report_cmd: `latchkey report` (issue #20): collect the software inventory, sign it with
 * the LDevID and send it to the posture server (enroll/agent/report.h does the work).
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
#include "enroll/agent/report.h"

#define REPORT_HASH_FILES_MAX	POSTURE_FILES_MAX

static void
report_usage(FILE *f)
{
	fprintf(f,
"usage: latchkey report [--posture-url URL] [--state-dir DIR] [--dpkg-status FILE]\n"
"                       [--inventory-command CMD] [--hash-file PATH]... [--json]\n"
"                       [--dhcp-env FILE]... [--no-mdns] [--no-discover]\n"
"                       [--timeout SECS] [--tpm TCTI] [-v]\n"
"\n"
"Reports this device's posture: its software inventory (every package dpkg lists as\n"
"installed: name, version, architecture; or the output of an inventory command), the\n"
"SHA-256 of the files named, its serial and the serial of its LDevID, signed with the\n"
"LDevID key (CMS SignedData, Content-Type application/cms) and sent over TLS with the\n"
"LDevID as client certificate to the posture server, which is verified against the\n"
"domain CA in DIR. The server judges the report against the owner's policy: compliant,\n"
"or noncompliant with the reasons (a noncompliant device may be quarantined by DHCP\n"
"until it reports compliant again). Field names follow CoSWID (RFC 9393).\n"
"\n"
"  --posture-url URL        the posture server (https://HOST[:PORT][/PATH]; without a\n"
"                           path, /.well-known/latchkey/posture); default: the first one\n"
"                           discovered by `latchkey onboard` (DIR/onboard.json), else\n"
"                           one discovery round now: the DHCP vendor option (125/17) in\n"
"                           the DHCP client's env files, and when DHCP named nothing,\n"
"                           mDNS _latchkey-posture._tcp\n"
"  --dhcp-env FILE          discovery: this env file of the contrib DHCP client scripts\n"
"                           (repeatable; default /run/latchkey/dhcp*.env)\n"
"  --no-mdns                discovery: DHCP only\n"
"  --no-discover            no discovery round: --posture-url or onboard.json only\n"
"  --state-dir DIR          where the LDevID, its key and the domain CA are (default\n"
"                           /var/lib/latchkey)\n"
"  --dpkg-status FILE       the dpkg status file to read (default /var/lib/dpkg/status)\n"
"  --inventory-command CMD  run CMD with /bin/sh instead of reading dpkg: one package a\n"
"                           line, \"NAME VERSION [ARCH]\", e.g. dpkg-query -W -f\n"
"                           '${Package} ${Version} ${Architecture}\\n'; it must exit 0\n"
"  --hash-file PATH         also report the SHA-256 of PATH (repeatable, at most %d)\n"
"  --json                   print the server's verdict as JSON on stdout\n"
"  --timeout SECS           bound for the exchange (default 30)\n"
"  --tpm TCTI               the TPM of a TPM LDevID key, as a libtss2 TCTI (default:\n"
"                           $TPM2OPENSSL_TCTI, else device:/dev/tpmrm0)\n"
"  -v                       show details on stderr\n"
"\n"
"Output: one line, \"compliant\" or \"noncompliant: REASON; REASON...\" (or the JSON).\n"
"\n"
"exit status: 0 reported and compliant, 3 reported and noncompliant, 4 the server\n"
"refused the report (e.g. HTTP 403: the LDevID is revoked), 1 any other failure (no\n"
"posture server known, no LDevID, the inventory could not be read, the server could not\n"
"be reached), 2 usage error.\n", REPORT_HASH_FILES_MAX);
}

static void
report_progress(void *arg, int level, const char *line)
{
	int verbose = *(int *)arg;

	if (level == AGENT_INFO || verbose)
		fprintf(stderr, "latchkey: report: %s\n", line);
}

int
cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "posture-url", required_argument, NULL, 'u' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "out", required_argument, NULL, 'd' },
		{ "dpkg-status", required_argument, NULL, 's' },
		{ "inventory-command", required_argument, NULL, 'c' },
		{ "hash-file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "dhcp-env", required_argument, NULL, 'e' },
		{ "no-mdns", no_argument, NULL, 'M' },
		{ "no-discover", no_argument, NULL, 'N' },
		{ "tpm", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *hash[REPORT_HASH_FILES_MAX], *envs[16], *tcti = NULL;
	struct agent_opts ao;
	struct report_opts o;
	struct report_result res;
	struct posture_inventory inv;
	char err[1024];
	json_t *ans = NULL, *reasons;
	size_t i;
	int ch, json = 0, verbose = 0, rc = 1;

	memset(&o, 0, sizeof(o));
	memset(&res, 0, sizeof(res));
	o.state_dir = ONBOARD_STATE_DIR_DEFAULT;
	o.hash_files = hash;
	o.dhcp_env = envs;
	o.timeout = 30;
	o.progress = report_progress;
	o.progress_arg = &verbose;
	optind = 0;
	while ((ch = getopt_long(argc, argv, "hv", opts, NULL)) != -1) {
		switch (ch) {
		case 'u':
			o.url = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 's':
			o.dpkg_status = optarg;
			break;
		case 'c':
			o.command = optarg;
			break;
		case 'f':
			if (o.n_hash_files == REPORT_HASH_FILES_MAX) {
				fprintf(stderr, "latchkey: report: more than %d --hash-file\n",
				    REPORT_HASH_FILES_MAX);
				return EXIT_USAGE;
			}
			hash[o.n_hash_files++] = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'e':
			if (o.n_dhcp_env == sizeof(envs) / sizeof(envs[0])) {
				fprintf(stderr, "latchkey: report: more than %zu --dhcp-env\n",
				    sizeof(envs) / sizeof(envs[0]));
				return EXIT_USAGE;
			}
			envs[o.n_dhcp_env++] = optarg;
			break;
		case 'M':
			o.no_mdns = 1;
			break;
		case 'N':
			o.no_discover = 1;
			break;
		case 'T':
			tcti = optarg;
			break;
		case 't':
			o.timeout = atoi(optarg);
			if (o.timeout < 1 || o.timeout > 3600) {
				fprintf(stderr, "latchkey: report: --timeout: 1 to 3600 seconds\n");
				return EXIT_USAGE;
			}
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			report_usage(stdout);
			return 0;
		default:
			report_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "latchkey: report: unexpected argument \"%s\"\n", argv[optind]);
		return EXIT_USAGE;
	}
	if (o.command != NULL && o.dpkg_status != NULL) {
		fprintf(stderr, "latchkey: report: --dpkg-status and --inventory-command "
		    "exclude each other\n");
		return EXIT_USAGE;
	}
	posture_inventory_init(&inv);
	/* a TPM LDevID key: the TPM is opened first (an unreachable one is named) */
	memset(&ao, 0, sizeof(ao));
	ao.out_dir = o.state_dir;
	ao.tpm_tcti = tcti;
	if (agent_tpm_prepare(&ao, err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: report: %s\n", err);
		return 1;
	}
	if (agent_global_init() == -1) {
		fprintf(stderr, "latchkey: report: libcurl initialisation failed\n");
		return 1;
	}
	if (report_collect(&o, &inv, err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: report: %s\n", err);
		goto out;
	}
	if (report_send(&o, &inv, &res, err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: report: %s\n", err);
		rc = res.status >= 400 && res.status < 500 ? REPORT_EXIT_REFUSED : 1;
		goto out;
	}
	rc = res.compliant ? 0 : REPORT_EXIT_NONCOMPLIANT;
	if (json) {
		printf("%s\n", res.answer);
		goto out;
	}
	if (res.compliant) {
		printf("compliant (%zu packages, %zu files reported to %s, found by %s)\n",
		    res.npkgs, res.nfiles, res.url, res.source);
		goto out;
	}
	fprintf(stderr, "latchkey: report: reported to %s (found by %s): noncompliant\n",
	    res.url, res.source);
	printf("noncompliant");
	if ((ans = json_loads(res.answer, 0, NULL)) != NULL &&
	    json_is_array(reasons = json_object_get(ans, "reasons")))
		for (i = 0; i < json_array_size(reasons); i++)
			printf("%s%s", i == 0 ? ": " : "; ",
			    json_string_value(json_array_get(reasons, i)) ?
			    json_string_value(json_array_get(reasons, i)) : "?");
	printf("\n");
out:
	json_decref(ans);
	free(res.answer);
	posture_inventory_free(&inv);
	agent_global_cleanup();
	tpmkey_close();
	return rc;
}
