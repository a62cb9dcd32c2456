/* onboard_cmd: `latchkey onboard`; see onboard_cmd.h and onboard.h. */
#include "enroll/latchkey/commands.h"

#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "certs/tpmkey.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/netinfo.h"
#include "enroll/agent/onboard.h"
#include "enroll/agent/report.h"

#define ONBOARD_ENV_MAX	16

static const char onboard_help[] =
"usage: latchkey onboard [--state-dir DIR] [--idevid CERT] [--idevid-key KEY]\n"
"                [--masa-anchor FILE] [--dhcp-env FILE]... [--no-mdns]\n"
"                [--mdns-timeout MS] [--max-backoff SECS] [--timeout SECS]\n"
"                [--attempt-timeout SECS] [--deploy-hook CMD] [--json] [-q] [-v]\n"
"       latchkey onboard --renew [--force] [--state-dir DIR] [--timeout SECS]\n"
"                [--deploy-hook CMD] [--deploy-hook-timeout SECS] [--json]\n"
"\n"
"latchkey onboard takes a device that holds only its factory identity (an IEEE 802.1AR\n"
"IDevID certificate and key) and its manufacturer's MASA trust anchor to BOUND, without\n"
"anyone typing anything: it finds a registrar, obtains a voucher (BRSKI, RFC 8995) that\n"
"names the owner domain's CA, and enrolls over EST (RFC 7030) for an LDevID.\n"
"\n"
"Steps (a state machine kept in DIR/onboard.json, each step's result written atomically\n"
"before the next starts, so a crash or reboot resumes where it stopped):\n"
"  discover   DHCP first: the env files the contrib DHCP client scripts write\n"
"             (/run/latchkey/dhcp-IF.env, dhcp6-IF.env) with option 143 / 136 (RFC 8572\n"
"             SZTP redirect: registrar URIs, tried in the server's order) and the vendor\n"
"             option (125 / 17: posture and update servers, a CA fingerprint hint).\n"
"             Without a DHCP answer: mDNS (_brski-registrar._tcp, _brski-proxy._tcp,\n"
"             RFC 8995 4.1) through avahi-daemon\n"
"  voucher    provisional TLS with the IDevID as client certificate, a signed\n"
"             voucher-request; the voucher must verify against the MASA anchor and pin\n"
"             the domain CA, which from then on is the only CA trusted (kept as\n"
"             DIR/voucher.cms)\n"
"  enroll     EST simpleenroll with the channel binding of RFC 7030 3.5; a resumed run\n"
"             verifies the stored voucher again and enrolls against its pinned CA\n"
"  bound      DIR holds ldevid.pem, ldevid.key (0600), domain-ca.pem, enrollment.json\n"
"             and the marker DIR/bound; running again does nothing and says so\n"
"When every registrar candidate failed, the next round (a fresh discovery) starts after\n"
"a back-off that doubles from 1 s up to --max-backoff, with jitter (a random point in\n"
"the upper half), so devices powered up together do not retry in lock step.\n"
"\n"
"options:\n"
"  --state-dir DIR        state, LDevID and voucher (default /var/lib/latchkey; created\n"
"                         0700)\n"
"  --idevid CERT          IDevID certificate, PEM, leaf first (default DIR/idevid.pem,\n"
"                         else /etc/latchkey/idevid.pem)\n"
"  --idevid-key KEY       its key (default DIR/idevid.key, else /etc/latchkey/idevid.key):\n"
"                         a PEM key file, a TPM-wrapped \"TSS2 PRIVATE KEY\" file or\n"
"                         handle:0x81000000..0x81FFFFFF (a key in the TPM, see --tpm)\n"
"  --key-store file|tpm   where the LDevID key is made and kept: file (PKCS#8 PEM,\n"
"                         default) or tpm (inside the TPM, P-256, never exported;\n"
"                         DIR/ldevid.key is its TPM-wrapped blob). --renew keeps the\n"
"                         store of the current key unless told otherwise\n"
"  --tpm TCTI             the TPM, as a libtss2 TCTI (device:/dev/tpmrm0,\n"
"                         swtpm:path=SOCKET, ...; default $TPM2OPENSSL_TCTI, else\n"
"                         device:/dev/tpmrm0 when it exists). An unreachable TPM is an\n"
"                         error naming it (exit 1), never a fall-back to a key file\n"
"  --masa-anchor FILE     the manufacturer's MASA trust anchor(s), PEM (default\n"
"                         DIR/masa-anchor.pem, else /etc/latchkey/masa-anchor.pem, else\n"
"                         masa-anchor.pem next to the IDevID)\n"
"  --dhcp-env FILE        read DHCP options from FILE (repeatable, in order; a file\n"
"                         not there yet is skipped). Default: /run/latchkey/dhcp*.env\n"
"  --no-mdns              never browse mDNS\n"
"  --mdns-timeout MS      bound of one mDNS browse (default 3000, 1..600000)\n"
"  --max-backoff SECS     bound of the doubling back-off between rounds (default 3600,\n"
"                         RFC 8995 4.1; 1..86400)\n"
"  --timeout SECS         give up after SECS (exit 3; the state is kept and a new run\n"
"                         resumes); 0 = keep trying until bound (default 0). Also bounds\n"
"                         waiting while a registrar holds the device for an\n"
"                         administrator's approval (HTTP 202 to the voucher request\n"
"                         or the CSR: asked again after Retry-After, 1 to 3600 s,\n"
"                         for a voucher at most 60 s, on a new connection)\n"
"  --attempt-timeout SECS bound of one exchange with one registrar, including waiting\n"
"                         while the registrar cannot reach the MASA (default 30)\n"
"  --renew                renewal instead: when two thirds of the LDevID's lifetime have\n"
"                         passed, re-enroll (EST simplereenroll with the LDevID); else\n"
"                         print when renewal is due and exit 0\n"
"  --force                with --renew: renew now\n"
"  --deploy-hook CMD      record CMD in DIR/onboard.json as the deploy hook: after each\n"
"                         renewal (--renew) it runs with /bin/sh -c, stdout joined to\n"
"                         stderr, with LATCHKEY_DIR, LATCHKEY_LDEVID_CERT,\n"
"                         LATCHKEY_LDEVID_KEY, LATCHKEY_CA, LATCHKEY_SERIAL,\n"
"                         LATCHKEY_LDEVID_SERIAL, LATCHKEY_OLD_LDEVID_SERIAL and\n"
"                         LATCHKEY_NOT_AFTER in its environment (see latchkey(8)).\n"
"                         Recorded also when bound already or not due; \"\" removes it.\n"
"                         A failing hook is a warning and exit status 5; the new\n"
"                         LDevID stays installed\n"
"  --deploy-hook-timeout SECS\n"
"                         kill the hook (its process group: SIGTERM, SIGKILL 5 s later)\n"
"                         after SECS (default 300, 1..86400)\n"
"  --json                 one JSON object on stdout at the end:\n"
"                         {\"result\":\"bound\"|\"already-bound\"|\"timeout\"|\"busy\"|\n"
"                         \"renewed\"|\"not-due\",\"state\":..,\"registrar\":..,\"source\":\n"
"                         \"dhcp\"|\"mdns\",\"domain\":..,\"serial\":..,\"ldevid_serial\":..,\n"
"                         \"not_after\":..,\"domain_ca_fingerprint\":..,\"renew_due\":..,\n"
"                         \"files\":{\"state\":..,\"ldevid\":..,\"key\":..,\"ca\":..,\n"
"                         \"voucher\":..,\"bound\":..}}\n"
"  -q, --quiet            no progress lines (errors are still printed)\n"
"  -v, --verbose          more detail (HTTP status, discovery answers)\n"
"  -h, --help             this text\n"
"\n"
"  --no-report            no posture report once BOUND (by default, when discovery\n"
"                         named a posture server, one `latchkey report` runs right\n"
"                         after BOUND; its failure is a warning, never the result)\n"
"  --report-dpkg-status FILE  that report's dpkg status file (default\n"
"                         /var/lib/dpkg/status)\n"
"\n"
"Testing option:\n"
"  --pause-after-voucher SECS   sleep once the voucher is stored (state enroll), so a\n"
"                         test can kill the agent at that point\n"
"\n"
"Progress goes to stderr, one line per step, each starting with \"latchkey: onboard: \".\n"
"Only one latchkey onboard runs per state directory (DIR/onboard.lock); a DHCP client\n"
"script may start it on every lease.\n"
"\n"
"SECURITY: DHCP options and mDNS answers are unauthenticated hints where to look. The\n"
"registrar is trusted only through the voucher, signed by the manufacturer's MASA; the\n"
"CA fingerprint hint is compared after enrollment and never trusted on its own.\n"
"\n"
"After BOUND and after a renewal (and its hook), the new LDevID is used once (GET\n"
"/.well-known/latchkey/status): the registrar then revokes the older LDevIDs of the\n"
"binding, reason superseded.\n"
"\n"
"Exit status: 0 bound (now or already), renewed, or renewal not due; 1 failure (one\n"
"line on stderr says why: e.g. an unreadable IDevID or MASA anchor); 2 usage error;\n"
"3 --timeout ran out before BOUND (resumable); 4 another latchkey onboard holds DIR;\n"
"5 renewed, but the deploy hook failed (exited non-zero, was killed or timed out).\n"
"\n"
"Standards: RFC 8995 (BRSKI), RFC 8366 (vouchers), RFC 7030 (EST), RFC 8572 8.1-8.3\n"
"(DHCP SZTP redirect), RFC 3925 and RFC 8415 21.17 (vendor options), RFC 6762/6763\n"
"(mDNS, DNS-SD). See latchkey(8).\n";

enum {
	OPT_STATE_DIR = 256,
	OPT_IDEVID,
	OPT_IDEVID_KEY,
	OPT_MASA_ANCHOR,
	OPT_DHCP_ENV,
	OPT_NO_MDNS,
	OPT_MDNS_TIMEOUT,
	OPT_MAX_BACKOFF,
	OPT_TIMEOUT,
	OPT_ATTEMPT_TIMEOUT,
	OPT_RENEW,
	OPT_FORCE,
	OPT_JSON,
	OPT_PAUSE,
	OPT_DEPLOY_HOOK,
	OPT_HOOK_TIMEOUT,
	OPT_KEY_STORE,
	OPT_TPM,
	OPT_NO_REPORT,
	OPT_REPORT_DPKG
};

static const struct option onboard_opts_long[] = {
	{ "state-dir",		required_argument,	NULL, OPT_STATE_DIR },
	{ "idevid",		required_argument,	NULL, OPT_IDEVID },
	{ "idevid-key",		required_argument,	NULL, OPT_IDEVID_KEY },
	{ "masa-anchor",	required_argument,	NULL, OPT_MASA_ANCHOR },
	{ "dhcp-env",		required_argument,	NULL, OPT_DHCP_ENV },
	{ "no-mdns",		no_argument,		NULL, OPT_NO_MDNS },
	{ "mdns-timeout",	required_argument,	NULL, OPT_MDNS_TIMEOUT },
	{ "max-backoff",	required_argument,	NULL, OPT_MAX_BACKOFF },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "attempt-timeout",	required_argument,	NULL, OPT_ATTEMPT_TIMEOUT },
	{ "renew",		no_argument,		NULL, OPT_RENEW },
	{ "force",		no_argument,		NULL, OPT_FORCE },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "pause-after-voucher", required_argument,	NULL, OPT_PAUSE },
	{ "deploy-hook",	required_argument,	NULL, OPT_DEPLOY_HOOK },
	{ "deploy-hook-timeout", required_argument,	NULL, OPT_HOOK_TIMEOUT },
	{ "key-store",		required_argument,	NULL, OPT_KEY_STORE },
	{ "tpm",		required_argument,	NULL, OPT_TPM },
	{ "no-report",		no_argument,		NULL, OPT_NO_REPORT },
	{ "report-dpkg-status",	required_argument,	NULL, OPT_REPORT_DPKG },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 }
};

struct onboard_cli {
	int		 quiet;
	int		 verbose;
	int		 no_report;
	const char	*report_dpkg;	/* NULL: /var/lib/dpkg/status */
};

static int
onboard_usage(const char *what, const char *arg)
{
	fprintf(stderr, "latchkey: onboard: %s%s%s%s (see latchkey onboard --help)\n", what,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "", arg != NULL ? "\"" : "");
	return ONBOARD_EXIT_USAGE;
}

static void
onboard_progress(void *arg, int level, const char *line)
{
	const struct onboard_cli *c = arg;

	if (c->quiet || (level == AGENT_DEBUG && c->verbose < 1))
		return;
	fprintf(stderr, "latchkey: onboard: %s\n", line);
}

static int
onboard_num(const char *s, unsigned long lo, unsigned long hi, unsigned *out)
{
	char *end;
	unsigned long v;

	if (*s == '-' || *s == '\0')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* First existing of DIR/name, /etc/latchkey/name; else DIR/name (named in the error). */
static void
onboard_default(char *out, size_t outlen, const char *dir, const char *name)
{
	snprintf(out, outlen, "%s/%s", dir, name);
	if (access(out, F_OK) == 0)
		return;
	snprintf(out, outlen, "%s/%s", ONBOARD_ETC_DIR, name);
	if (access(out, F_OK) == 0)
		return;
	snprintf(out, outlen, "%s/%s", dir, name);
}

static void
onboard_iso(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	out[0] = '\0';
	if (t > 0 && gmtime_r(&tt, &tm) != NULL)
		strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int
onboard_print_json(const char *result, const char *dir, const struct onboard_record *r,
    const char *due, const char *hook_error)
{
	char f[6][AGENT_PATH_MAX + 32];
	json_t *j;
	int rc;

	snprintf(f[0], sizeof(f[0]), "%s/%s", dir, ONBOARD_FILE_STATE);
	snprintf(f[1], sizeof(f[1]), "%s/%s", dir, AGENT_FILE_CERT);
	snprintf(f[2], sizeof(f[2]), "%s/%s", dir, AGENT_FILE_KEY);
	snprintf(f[3], sizeof(f[3]), "%s/%s", dir, AGENT_FILE_CA);
	snprintf(f[4], sizeof(f[4]), "%s/%s", dir, AGENT_FILE_VOUCHER);
	snprintf(f[5], sizeof(f[5]), "%s/%s", dir, ONBOARD_FILE_BOUND);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s,"
	    " s:{s:s, s:s, s:s, s:s, s:s, s:s}}",
	    "result", result,
	    "state", onboard_state_name(r->state),
	    "registrar", r->registrar,
	    "source", r->source,
	    "domain", r->domain,
	    "serial", r->device_serial,
	    "ldevid_serial", r->ldevid_serial,
	    "not_after", r->not_after,
	    "domain_ca_fingerprint", r->domain_ca_fp,
	    "pinned_domain_cert", r->pinned_fp,
	    "bound_at_ms", (json_int_t)r->bound_at_ms,
	    "renew_due", due,
	    "last_error", r->last_error,
	    "files", "state", f[0], "ldevid", f[1], "key", f[2], "ca", f[3], "voucher", f[4],
	    "bound", f[5]);
	if (j == NULL)
		return -1;
	/* renewed: the deploy hook's outcome (null when none is recorded) */
	if (strcmp(result, "renewed") == 0)
		json_object_set_new(j, "deploy_hook", r->deploy_hook[0] == '\0' ? json_null() :
		    json_pack("{s:s, s:b, s:s}", "command", r->deploy_hook, "ok",
		    hook_error == NULL, "error", hook_error != NULL ? hook_error : ""));
	rc = json_dumpf(j, stdout, JSON_COMPACT);
	json_decref(j);
	if (rc == 0 && (fputc('\n', stdout) == EOF || fflush(stdout) == EOF))
		rc = -1;
	return rc;
}

/*
 * Just BOUND: the network identifiers of this device's DHCP exchanges (the env files of
 * discovery: the client identifier and DUID it sent, the interface's MAC) to the registrar,
 * as `latchkey enroll --dhcp-env --netid-if` reports them, so that the Kea hook can put
 * this device into its revoked or noncompliant class. Best effort: a warning at worst.
 */
static void
onboard_netids(const struct onboard_opts *o, struct onboard_cli *c)
{
	struct netinfo_env e;
	struct netid_list *l;
	struct agent_opts ao;
	glob_t g;
	const char *const *files = o->dhcp_env;
	char err[512], *body = NULL;
	size_t n = o->n_dhcp_env, i;
	int globbed = 0;

	if (n == 0 && glob(o->dhcp_glob != NULL ? o->dhcp_glob : DISCOVER_DHCP_GLOB_DEFAULT, 0,
	    NULL, &g) == 0) {
		files = (const char *const *)g.gl_pathv;
		n = g.gl_pathc;
		globbed = 1;
	}
	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		if (access(files[i], R_OK) == -1)
			continue;	/* no DHCP on that interface (mDNS discovery) */
		/* read once: its identifiers and its interface's MAC */
		if (netinfo_env_read(files[i], &e, err, sizeof(err)) == -1) {
			fprintf(stderr, "latchkey: onboard: warning: %s\n", err);
			continue;
		}
		if (netinfo_env_add(l, files[i], &e, err, sizeof(err)) == -1)
			fprintf(stderr, "latchkey: onboard: warning: %s\n", err);
		if (e.iface != NULL && netinfo_add_iface(l, e.iface, err, sizeof(err)) == -1)
			fprintf(stderr, "latchkey: onboard: warning: %s\n", err);
		netinfo_env_clear(&e);
	}
	if (l->n == 0 || (body = netid_json(l)) == NULL)
		goto out;
	memset(&ao, 0, sizeof(ao));
	ao.out_dir = o->state_dir;
	ao.tpm_tcti = o->tpm_tcti;
	ao.timeout = o->attempt_timeout_s > 0 ? (int)o->attempt_timeout_s : 0;
	if (agent_report_netids(&ao, body, strlen(body), err, sizeof(err)) == -1)
		fprintf(stderr, "latchkey: onboard: warning: network identifiers not reported: "
		    "%s\n", err);
	else if (!c->quiet)
		fprintf(stderr, "latchkey: onboard: reported %zu network identifier%s to the "
		    "registrar\n", l->n, l->n == 1 ? "" : "s");
out:
	free(body);
	free(l);
	if (globbed)
		globfree(&g);
}

/*
 * Just BOUND and a posture server was discovered: one posture report (issue #20,
 * enroll/agent/report.h), best effort: a failure is a warning, never the result.
 */
static void
onboard_report(const struct onboard_opts *o, const struct onboard_record *rec,
    struct onboard_cli *c)
{
	struct report_opts ro;
	struct report_result res;
	struct posture_inventory inv;
	char err[1024];

	memset(&ro, 0, sizeof(ro));
	memset(&res, 0, sizeof(res));
	ro.state_dir = o->state_dir;
	ro.url = rec->disc.posture[0];
	ro.dpkg_status = c->report_dpkg;
	ro.no_discover = 1;
	ro.timeout = o->attempt_timeout_s > 0 ? (int)o->attempt_timeout_s : 0;
	ro.progress = onboard_progress;
	ro.progress_arg = c;
	posture_inventory_init(&inv);
	if (report_collect(&ro, &inv, err, sizeof(err)) == -1 ||
	    report_send(&ro, &inv, &res, err, sizeof(err)) == -1)
		fprintf(stderr, "latchkey: onboard: warning: posture report not sent: %s\n",
		    err);
	else if (!c->quiet)
		fprintf(stderr, "latchkey: onboard: posture reported to %s: %s\n", res.url,
		    res.compliant ? "compliant" : "noncompliant");
	free(res.answer);
	posture_inventory_free(&inv);
}

int
cmd_onboard(int argc, char **argv)
{
	const char *env[ONBOARD_ENV_MAX];
	char idevid[AGENT_PATH_MAX], idkey[AGENT_PATH_MAX], anchor[AGENT_PATH_MAX];
	char err[1024] = "", due[32] = "";
	const char *result = "failed";
	struct onboard_opts o;
	struct onboard_record rec;
	struct onboard_cli c;
	int ch, json = 0, renew = 0, force = 0, rc, exitc;
	int64_t due_t = 0;
	size_t n_env = 0;

	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	o.state_dir = ONBOARD_STATE_DIR_DEFAULT;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":qvh", onboard_opts_long, NULL)) != -1) {
		switch (ch) {
		case OPT_STATE_DIR:
			o.state_dir = optarg;
			break;
		case OPT_IDEVID:
			o.idevid_cert = optarg;
			break;
		case OPT_IDEVID_KEY:
			o.idevid_key = optarg;
			break;
		case OPT_MASA_ANCHOR:
			o.masa_anchor = optarg;
			break;
		case OPT_DHCP_ENV:
			if (n_env >= ONBOARD_ENV_MAX)
				return onboard_usage("too many --dhcp-env", NULL);
			env[n_env++] = optarg;
			break;
		case OPT_NO_MDNS:
			o.no_mdns = 1;
			break;
		case OPT_MDNS_TIMEOUT:
			if (onboard_num(optarg, 1, 600000, &o.mdns_timeout_ms) == -1)
				return onboard_usage("--mdns-timeout wants 1..600000 ms, not",
				    optarg);
			break;
		case OPT_MAX_BACKOFF:
			if (onboard_num(optarg, 1, 86400, &o.max_backoff_s) == -1)
				return onboard_usage("--max-backoff wants 1..86400 seconds, not",
				    optarg);
			break;
		case OPT_TIMEOUT:
			if (onboard_num(optarg, 0, UINT_MAX / 2, &o.timeout_s) == -1)
				return onboard_usage("--timeout wants seconds (0 = no limit), not",
				    optarg);
			break;
		case OPT_ATTEMPT_TIMEOUT:
			if (onboard_num(optarg, 1, 3600, &o.attempt_timeout_s) == -1)
				return onboard_usage("--attempt-timeout wants 1..3600 seconds, "
				    "not", optarg);
			break;
		case OPT_PAUSE:
			if (onboard_num(optarg, 1, 3600, &o.pause_after_voucher_s) == -1)
				return onboard_usage("--pause-after-voucher wants 1..3600 "
				    "seconds, not", optarg);
			break;
		case OPT_RENEW:
			renew = 1;
			break;
		case OPT_NO_REPORT:
			c.no_report = 1;
			break;
		case OPT_REPORT_DPKG:
			c.report_dpkg = optarg;
			break;
		case OPT_DEPLOY_HOOK:
			if (strlen(optarg) >= HOOK_CMD_MAX)
				return onboard_usage("--deploy-hook: command too long", NULL);
			o.deploy_hook = optarg;
			break;
		case OPT_HOOK_TIMEOUT:
			if (onboard_num(optarg, 1, HOOK_TIMEOUT_MAX, &o.hook_timeout_s) == -1)
				return onboard_usage("--deploy-hook-timeout wants 1..86400 "
				    "seconds, not", optarg);
			break;
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_KEY_STORE: {
			int ks;

			if ((ks = agent_key_store_parse(optarg)) == -1)
				return onboard_usage("unknown --key-store (file, tpm):", optarg);
			o.key_store = ks;
			break;
		}
		case OPT_TPM:
			o.tpm_tcti = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case 'q':
			c.quiet = 1;
			break;
		case 'v':
			c.verbose++;
			break;
		case 'h':
			fputs(onboard_help, stdout);
			return ONBOARD_EXIT_OK;
		case ':':
			return onboard_usage("option needs an argument:", argv[optind - 1]);
		default:
			return onboard_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return onboard_usage("unexpected argument", argv[optind]);
	if (*o.state_dir == '\0')
		return onboard_usage("--state-dir must not be empty", NULL);
	if (force && !renew)
		return onboard_usage("--force goes with --renew", NULL);
	if (o.idevid_cert == NULL) {
		onboard_default(idevid, sizeof(idevid), o.state_dir, "idevid.pem");
		o.idevid_cert = idevid;
	}
	if (o.idevid_key == NULL) {
		onboard_default(idkey, sizeof(idkey), o.state_dir, "idevid.key");
		o.idevid_key = idkey;
	}
	if (o.masa_anchor == NULL) {
		const char *slash = strrchr(o.idevid_cert, '/');

		onboard_default(anchor, sizeof(anchor), o.state_dir, "masa-anchor.pem");
		if (access(anchor, F_OK) == -1 && slash != NULL)
			snprintf(anchor, sizeof(anchor), "%.*s/masa-anchor.pem",
			    (int)(slash - o.idevid_cert), o.idevid_cert);
		o.masa_anchor = anchor;
	}
	o.dhcp_env = env;
	o.n_dhcp_env = n_env;
	o.progress = onboard_progress;
	o.progress_arg = &c;

	/* The TPM first, when a key is (or is to be) in it: unreachable = one error line. */
	{
		struct agent_opts ao;

		memset(&ao, 0, sizeof(ao));
		ao.idevid_key = o.idevid_key;
		ao.out_dir = o.state_dir;
		ao.key_store = (enum agent_key_store)o.key_store;
		ao.tpm_tcti = o.tpm_tcti;
		if (agent_tpm_prepare(&ao, err, sizeof(err)) == -1) {
			fprintf(stderr, "latchkey: onboard: %s\n", err);
			return ONBOARD_EXIT_FAIL;
		}
	}
	if (agent_global_init() == -1) {
		fprintf(stderr, "latchkey: onboard: libcurl with the OpenSSL backend is "
		    "required\n");
		return ONBOARD_EXIT_FAIL;
	}
	if (renew)
		rc = onboard_renew(&o, force, &rec, &due_t, err, sizeof(err));
	else
		rc = onboard_run(&o, &rec, err, sizeof(err));
	if (rc == ONBOARD_RC_BOUND)
		onboard_netids(&o, &c);
	if (rc == ONBOARD_RC_BOUND && !c.no_report && rec.disc.nposture > 0)
		onboard_report(&o, &rec, &c);
	agent_global_cleanup();
	tpmkey_close();
	onboard_iso(due_t != 0 ? due_t : rec.renew_due, due, sizeof(due));

	switch (rc) {
	case ONBOARD_RC_BOUND:
		result = "bound";
		exitc = ONBOARD_EXIT_OK;
		break;
	case ONBOARD_RC_ALREADY:
		result = "already-bound";
		exitc = ONBOARD_EXIT_OK;
		break;
	case ONBOARD_RC_RENEWED:
		result = "renewed";
		exitc = ONBOARD_EXIT_OK;
		if (!c.quiet)
			fprintf(stderr, "latchkey: onboard: renewed: LDevID %s valid until "
			    "%s\n", rec.ldevid_serial, rec.not_after);
		break;
	case ONBOARD_RC_HOOK_FAILED:
		result = "renewed";
		exitc = ONBOARD_EXIT_HOOK;
		if (!c.quiet)
			fprintf(stderr, "latchkey: onboard: renewed: LDevID %s valid until "
			    "%s\n", rec.ldevid_serial, rec.not_after);
		fprintf(stderr, "latchkey: onboard: warning: %s; the new LDevID stays "
		    "installed\n", err);
		break;
	case ONBOARD_RC_NOT_DUE:
		result = "not-due";
		exitc = ONBOARD_EXIT_OK;
		if (!c.quiet)
			fprintf(stderr, "latchkey: onboard: renewal not due yet: due at %s "
			    "(two thirds of the LDevID's lifetime)\n", due);
		break;
	case ONBOARD_RC_TIMEOUT:
		result = "timeout";
		exitc = ONBOARD_EXIT_TIMEOUT;
		fprintf(stderr, "latchkey: onboard: %s\n", err);
		break;
	case ONBOARD_RC_BUSY:
		result = "busy";
		exitc = ONBOARD_EXIT_BUSY;
		fprintf(stderr, "latchkey: onboard: another latchkey onboard is running for "
		    "%s; leaving it to that one\n", o.state_dir);
		break;
	default:
		fprintf(stderr, "latchkey: onboard: %s\n", err);
		return ONBOARD_EXIT_FAIL;
	}
	if (json && onboard_print_json(result, o.state_dir, &rec, due,
	    rc == ONBOARD_RC_HOOK_FAILED ? err : NULL) == -1) {
		fprintf(stderr, "latchkey: onboard: writing JSON to stdout failed\n");
		return ONBOARD_EXIT_FAIL;
	}
	return exitc;
}
