/*
 * status_cmd: `latchkey status [--out DIR] [--offline] [--json]`. Reads what enrollment
 * left in DIR (enrollment.json, ldevid.pem, domain-ca.pem) and, unless --offline, asks the
 * registrar GET /.well-known/latchkey/status with the LDevID as client certificate, so the
 * device learns whether its binding is still active, or was revoked and why.
 */
#include "enroll/latchkey/commands.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "certs/pki.h"
#include "certs/tpmkey.h"
#include "enroll/agent/agent.h"
#include "enroll/common/err.h"
#include "enroll/latch/statefile.h"
#include "enroll/agent/onboard.h"

static void
status_usage(FILE *f)
{
	fprintf(f,
"usage: latchkey status [--out DIR] [--offline] [--json] [--timeout SECS] [--tpm TCTI]\n"
"\n"
"Shows this device's enrollment: its serial, the registrar, the domain CA, the LDevID and\n"
"its expiry, and the binding's state as the registrar sees it now (active, or revoked\n"
"with the reason). The registrar is asked over TLS with the LDevID as client certificate,\n"
"verified against the domain CA from enrollment; --offline shows only local files.\n"
"When DIR holds the state of `latchkey onboard` (onboard.json), its step, registrar,\n"
"discovery source, domain, latch and renewal time are shown too (JSON: \"onboard\").\n"
"When DIR/latch-state.json exists (`latchkey latch --state-file DIR/latch-state.json`),\n"
"the latch's state is shown (JSON: \"latch\").\n"
"The line \"key\" (JSON: \"key_store\") says where the LDevID key lives: \"file\" (PEM in\n"
"DIR/ldevid.key) or \"tpm\" (inside the TPM; DIR/ldevid.key is its TPM-wrapped blob).\n"
"\n"
"  --out DIR        enrollment directory written by `latchkey enroll` (default\n"
"                   /var/lib/latchkey)\n"
"  --offline        do not contact the registrar\n"
"  --json           one JSON object on stdout\n"
"  --timeout SECS   bound for the registrar query (default 10)\n"
"  --tpm TCTI       the TPM of a TPM LDevID key, as a libtss2 TCTI (default:\n"
"                   $TPM2OPENSSL_TCTI, else device:/dev/tpmrm0); unreachable: exit 1\n"
"\n"
"exit status: 0 enrolled and the binding is active (or --offline), 3 the binding was\n"
"revoked, 1 not enrolled or the registrar could not be asked, 2 usage error.\n");
}

static int
path_join(char *out, size_t outlen, const char *dir, const char *name)
{
	int n = snprintf(out, outlen, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Ask the registrar; fills *reply (caller json_decref). Returns HTTP status or -1. */
static long
status_query(const char *dir, const char *server, int timeout, json_t **reply, char *err,
    size_t errlen)
{
	struct agent_opts ao;
	char why[512], *answer = NULL;
	size_t alen;
	long code = -1;
	json_error_t je;

	*reply = NULL;
	/* the agent's LDevID request: its key from any store, the domain CA, TLS >= 1.2 */
	memset(&ao, 0, sizeof(ao));
	ao.out_dir = dir;
	ao.server = server;
	ao.timeout = timeout;
	if (agent_ldevid_get(&ao, AGENT_STATUS_PATH, &code, &answer, &alen, why,
	    sizeof(why)) == -1) {
		return errf(err, errlen, "cannot ask %s: %s", server, why);
	}
	if (code == 200 && (*reply = json_loadb(answer, alen, 0, &je)) == NULL) {
		snprintf(err, errlen, "registrar sent bad JSON: %s", je.text);
		code = -1;
	} else if (code != 200) {
		size_t n = strcspn(answer, "\r\n");
		snprintf(err, errlen, "registrar answered HTTP %ld: %.*s", code, (int)n, answer);
	}
	free(answer);
	return code;
}

/* onboard: an epoch time as "YYYY-MM-DDTHH:MM:SSZ" ("" when 0). */
static void
onboard_status_due(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	out[0] = '\0';
	if (t > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *
jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

int
cmd_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "offline", no_argument, NULL, 'O' },
		{ "json", no_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "tpm", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 }
	};
	const char *dir = "/var/lib/latchkey", *tcti = NULL, *store;
	char keypath[4200];
	char meta[4200], certpath[4200], err[512] = "", fp[PKI_FP_LEN] = "";
	int ch, offline = 0, json = 0, timeout = 10, rc = 1;
	long code = 0;
	json_t *m = NULL, *reply = NULL, *outj = NULL;
	json_error_t je;
	X509 *cert = NULL;
	const char *state = "unknown";
	char latchpath[4200], latchbuf[512] = "";
	struct onboard_record ob;
	int has_ob;
	char due[32] = "";

	optind = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			dir = optarg;
			break;
		case 'O':
			offline = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			timeout = atoi(optarg);
			if (timeout < 1 || timeout > 600) {
				fprintf(stderr, "latchkey: status: --timeout: 1 to 600 seconds\n");
				return 2;
			}
			break;
		case 'T':
			tcti = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return 0;
		default:
			status_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "latchkey: status: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (path_join(meta, sizeof(meta), dir, "enrollment.json") ||
	    path_join(certpath, sizeof(certpath), dir, "ldevid.pem") ||
	    path_join(keypath, sizeof(keypath), dir, "ldevid.key")) {
		fprintf(stderr, "latchkey: status: path too long\n");
		return 1;
	}
	store = agent_key_store_name(keypath);
	/* A TPM LDevID key: the TPM is opened first, an unreachable one is named. */
	if (!offline && strcmp(store, "tpm") == 0) {
		struct agent_opts ao;

		memset(&ao, 0, sizeof(ao));
		ao.out_dir = dir;
		ao.tpm_tcti = tcti;
		if (agent_tpm_prepare(&ao, err, sizeof(err)) == -1) {
			fprintf(stderr, "latchkey: status: %s\n", err);
			return 1;
		}
	}
	/* onboard: the state machine's record, when there is one. */
	has_ob = onboard_record_read(dir, &ob, err, sizeof(err)) == 1;
	if ((m = json_load_file(meta, 0, &je)) == NULL) {
		fprintf(stderr, "latchkey: status: not enrolled: %s: %s\n", meta, je.text);
		if (has_ob)
			fprintf(stderr, "latchkey: status: onboarding at step %s%s%s\n",
			    onboard_state_name(ob.state), ob.last_error[0] ? ", last error: " :
			    "", ob.last_error);
		return 1;
	}
	if ((cert = pki_cert_read(certpath, err, sizeof(err))) == NULL) {
		fprintf(stderr, "latchkey: status: %s\n", err);
		goto out;
	}
	pki_cert_fingerprint(cert, fp);
	if (!offline) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		code = status_query(dir, jstr(m, "server"), timeout, &reply, err, sizeof(err));
		curl_global_cleanup();
		if (code != 200) {
			fprintf(stderr, "latchkey: status: %s\n", err);
			goto out;
		}
		state = jstr(reply, "state");
	}
	rc = strcmp(state, "revoked") == 0 ? 3 : 0;
	/* the device's latch, when `latchkey latch --state-file DIR/latch-state.json` keeps it */
	if (path_join(latchpath, sizeof(latchpath), dir, "latch-state.json") == 0 &&
	    access(latchpath, R_OK) == 0 && latch_statefile_read(latchpath, NULL, latchbuf,
	    sizeof(latchbuf), err, sizeof(err)) != 0)
		latchbuf[0] = '\0';
	if (json) {
		outj = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
		    "serial", jstr(m, "device_serial"), "server", jstr(m, "server"),
		    "domain_ca_fingerprint", jstr(m, "domain_ca_fingerprint"),
		    "ldevid_serial", jstr(m, "ldevid_serial"), "not_after", jstr(m, "not_after"),
		    "ldevid_fingerprint", fp, "binding", offline ? "not asked" : state);
		if (outj != NULL)
			json_object_set_new(outj, "key_store", json_string(store));
		if (outj != NULL && has_ob) {
			onboard_status_due(ob.renew_due, due, sizeof(due));
			json_object_set_new(outj, "onboard", json_pack("{s:s, s:s, s:s, s:s, "
			    "s:s, s:s}", "state", onboard_state_name(ob.state), "registrar",
			    ob.registrar, "source", ob.source, "domain", ob.domain, "latch",
			    ob.latch, "renew_due", due));
		}
		if (outj != NULL && latchbuf[0] != '\0')
			json_object_set_new(outj, "latch", json_string(latchbuf));
		if (outj != NULL && reply != NULL) {
			json_object_set(outj, "reason", json_object_get(reply, "reason"));
			json_object_set(outj, "revoked_at", json_object_get(reply, "revoked_at"));
			json_object_set(outj, "domain", json_object_get(reply, "domain"));
		}
		if (outj == NULL || json_dumpf(outj, stdout, JSON_INDENT(2) | JSON_SORT_KEYS)) {
			fprintf(stderr, "latchkey: status: cannot write JSON\n");
			rc = 1;
			goto out;
		}
		putchar('\n');
	} else {
		printf("device     %s\n", jstr(m, "device_serial"));
		printf("registrar  %s\n", jstr(m, "server"));
		printf("domain CA  %s\n", jstr(m, "domain_ca_fingerprint"));
		printf("LDevID     %s, valid until %s\n", jstr(m, "ldevid_serial"),
		    jstr(m, "not_after"));
		if (strcmp(store, "tpm") == 0)
			printf("key        tpm (inside the TPM%s%s; %s is its wrapped blob)\n",
			    tpmkey_tcti() != NULL ? " at " : "",
			    tpmkey_tcti() != NULL ? tpmkey_tcti() : "", keypath);
		else
			printf("key        file (%s)\n", keypath);
		if (has_ob) {
			onboard_status_due(ob.renew_due, due, sizeof(due));
			printf("onboard    %s (registrar %s from %s, domain %s)\n",
			    onboard_state_name(ob.state), ob.registrar[0] ? ob.registrar : "?",
			    ob.source[0] ? ob.source : "?", ob.domain[0] ? ob.domain : "?");
			printf("latch      %s\n", latchbuf[0] ? latchbuf : ob.latch[0] ? ob.latch :
			    "not configured");
			printf("renewal    due %s\n", due[0] ? due : "(unknown)");
		}
		if (!has_ob && latchbuf[0] != '\0')
			printf("latch      %s\n", latchbuf);
		if (offline)
			printf("binding    (not asked: --offline)\n");
		else if (rc == 3) {
			time_t t = (time_t)json_integer_value(json_object_get(reply, "revoked_at"));
			char when[32] = "?";
			struct tm tm;

			if (t > 0 && gmtime_r(&t, &tm) != NULL)
				strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			/* latchkeyd(8), Superseded LDevIDs: the binding is active, this LDevID
			 * was replaced by a newer one that has been used */
			if (json_is_true(json_object_get(reply, "ldevid_revoked")) &&
			    strcmp(jstr(reply, "reason"), "superseded") == 0)
				printf("binding    this LDevID REVOKED by domain %s at %s: "
				    "superseded (a newer LDevID of the device is in use)\n",
				    jstr(reply, "domain"), when);
			else
				printf("binding    REVOKED by domain %s at %s: %s\n",
				    jstr(reply, "domain"), when, jstr(reply, "reason"));
		} else
			printf("binding    %s (domain %s)\n", state, jstr(reply, "domain"));
	}
out:
	X509_free(cert);
	json_decref(outj);
	json_decref(reply);
	json_decref(m);
	tpmkey_close();
	return rc;
}
