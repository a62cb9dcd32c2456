/*
 * enroll_cmd: `latchkey enroll` and `latchkey reenroll`. Argument parsing and output only;
 * the EST client is enroll/agent/agent.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "certs/tpmkey.h"
#include "enroll/agent/agent.h"
#include "enroll/agent/hook.h"
#include "enroll/agent/netinfo.h"
#include "enroll/common/netid.h"
#include "enroll/latchkey/commands.h"

static const char usage_head[] =
"usage: latchkey COMMAND [options]\n"
"       latchkey enroll --server URL --idevid CERT --idevid-key KEY --out DIR\n"
"                [--ca FILE | --trust-fingerprint sha256:HEX | --masa-anchor FILE]\n"
"                [--label L]\n"
"                [--key-type p256|p384|ed25519|rsa2048] [--key-store file|tpm]\n"
"                [--tpm TCTI] [--timeout SECS] [--force]\n"
"                [--wait SECS]\n"
"                [--netid-if IFNAME]... [--dhcp-env FILE]...\n"
"                [--json] [-q] [-v]\n"
"       latchkey reenroll --out DIR [--server URL] [--label L] [--key-type TYPE]\n"
"                [--key-store file|tpm] [--tpm TCTI]\n"
"                [--deploy-hook CMD] [--deploy-hook-timeout SECS]\n"
"                [--timeout SECS] [--json] [-q] [-v]\n"
"       latchkey status [--out DIR] [--offline] [--json]\n"
"       latchkey latch --peer ADDR [--ldevid DIR] [--json]   (see latchkey latch --help)\n"
"       latchkey report [--posture-url URL] [--state-dir DIR] [--json]   (see latchkey report --help)\n"
"       latchkey discover [--timeout MS] [--all] [--type T]... [--json]\n"
"       latchkey discover --wait-removed NAME [--type T] [--timeout MS]\n"
"       latchkey onboard [--state-dir DIR] [--timeout SECS] [--renew] [--json]\n"
"                (see latchkey onboard --help)\n"
"       latchkey update --package NAME --class CLASS --install-command CMD\n"
"                [--state-dir DIR] [--update-url URL] [--json]\n"
"                (see latchkey update --help)\n";

static const char help_intro[] =
"\n"
"latchkey is the device agent of latchkey: it enrolls a device that holds a factory\n"
"identity (an IEEE 802.1AR IDevID certificate and key) with a registrar (latchkeyd) over\n"
"EST (RFC 7030) and stores the LDevID the owner domain's CA issues.\n"
"\n"
"Every exchange uses one TLS connection (TLS 1.2 or later; TLS 1.3 when the server offers\n"
"it) for all requests: GET cacerts, GET csrattrs, POST simpleenroll or simplereenroll. The\n"
"CSR carries that connection's channel binding in its challengePassword (RFC 7030 3.5;\n"
"tls-exporter of RFC 9266 on TLS 1.3, tls-unique of RFC 5929 on TLS 1.2), so it cannot be\n"
"replayed on another connection; if the connection is not reused, latchkey stops.\n";

static const char help_enroll[] =
"\n"
"latchkey enroll: first enrollment, authenticated by the IDevID.\n"
"  --server URL           registrar base URL, https only, e.g. https://127.0.0.1:8443\n"
"                         (required)\n"
"  --idevid CERT          IDevID certificate, PEM: the leaf followed by its issuing CA\n"
"                         chain; all of it is sent as TLS client certificate (required)\n"
"  --idevid-key KEY       the IDevID private key (required): a PEM key file, or a key in\n"
"                         a TPM 2.0: a \"TSS2 PRIVATE KEY\" PEM file (the TPM-wrapped\n"
"                         blob tpm2-openssl and lab-pki --tpm write) or a persistent\n"
"                         handle, handle:0x81000000 to handle:0x81FFFFFF. A TPM key\n"
"                         serves the TLS handshake and the voucher-request signature\n"
"                         inside the TPM (see --tpm)\n"
"  --out DIR              directory for the results; created with mode 0700 if missing\n"
"                         (required)\n"
"  --ca FILE              verify the registrar's TLS certificate (chain and host name)\n"
"                         against the CA certificates in FILE\n"
"  --trust-fingerprint sha256:HEX\n"
"                         instead of --ca: accept the registrar iff the SHA-256 of its\n"
"                         TLS certificate is HEX (64 hex digits, ':' separators allowed);\n"
"                         cacerts must then contain the CA that issued that certificate.\n"
"                         This is operator pinning; see SECURITY in latchkey(8)\n"
"  --masa-anchor FILE     the voucher path (BRSKI, RFC 8995), the default when neither\n"
"                         --ca nor --trust-fingerprint is given: the registrar is\n"
"                         trusted provisionally, a voucher from the manufacturer's MASA\n"
"                         (verified against FILE, default masa-anchor.pem next to\n"
"                         --idevid) names the domain CA to trust; the voucher is kept in\n"
"                         DIR/voucher.cms. While the registrar answers 503 (MASA\n"
"                         unreachable) the request is retried, waiting max(Retry-After,\n"
"                         1 s doubling up to 60 s), within --timeout\n"
"  --label L              EST CA label: requests go to /.well-known/est/L/...\n"
"                         (default: no label)\n"
"  --key-type TYPE        key for the LDevID: p256 (default), p384, ed25519, rsa2048\n"
"  --force                enroll even if DIR already holds ldevid.pem (replacing it)\n"
"  (--key-store and --tpm: see the options of enroll and reenroll)\n";

static const char help_reenroll[] =
"\n"
"latchkey reenroll: renew the LDevID in DIR, authenticated by the current LDevID.\n"
"  --out DIR              directory of a previous enroll (required); DIR/ldevid.pem and\n"
"                         DIR/ldevid.key are the TLS client certificate, DIR/domain-ca.pem\n"
"                         the only CA the registrar is verified against (chain and host)\n"
"  --server URL           registrar base URL (default: \"server\" in DIR/enrollment.json)\n"
"  --label L              EST CA label (default: \"label\" in DIR/enrollment.json)\n"
"  --key-type TYPE        key type of the new key (default: as in enrollment.json, else\n"
"                         p256); a new key is always generated\n"
"  --deploy-hook CMD      once the new LDevID, key and CA are in place, run CMD with\n"
"                         /bin/sh -c (stdout joined to stderr) with LATCHKEY_DIR,\n"
"                         LATCHKEY_LDEVID_CERT, LATCHKEY_LDEVID_KEY, LATCHKEY_CA,\n"
"                         LATCHKEY_SERIAL, LATCHKEY_LDEVID_SERIAL,\n"
"                         LATCHKEY_OLD_LDEVID_SERIAL and LATCHKEY_NOT_AFTER in its\n"
"                         environment, e.g. to reload the services using the LDevID.\n"
"                         A failing hook is a warning and exit status 5; the new LDevID\n"
"                         stays installed\n"
"  --deploy-hook-timeout SECS\n"
"                         kill the hook (its process group: SIGTERM, SIGKILL 5 s later)\n"
"                         after SECS (default 300, 1..86400)\n"
"After the hook, reenroll uses the new LDevID once (GET /.well-known/latchkey/status):\n"
"the registrar then revokes the LDevIDs it replaced (reason superseded). If that fails,\n"
"a warning says so and they are revoked at the new LDevID's next use.\n";

static const char help_common[] =
"\n"
"Options of enroll and reenroll:\n"
"  --key-store file|tpm   where the new LDevID key is made and kept. file: generated in\n"
"                         memory, DIR/ldevid.key is PKCS#8 PEM (enroll's default).\n"
"                         tpm: generated inside the TPM (ECDSA P-256 only), it never\n"
"                         leaves it; DIR/ldevid.key is the TPM-wrapped blob (\"TSS2\n"
"                         PRIVATE KEY\" PEM, 0600), useless without that TPM.\n"
"                         reenroll's default: where the current key is\n"
"  --tpm TCTI             the TPM to use, as a libtss2 TCTI: device:/dev/tpmrm0,\n"
"                         swtpm:path=SOCKET, swtpm:host=H,port=P, tabrmd: ...\n"
"                         (default: $TPM2OPENSSL_TCTI, else device:/dev/tpmrm0 when it\n"
"                         exists). Used when a key is in a TPM; a TPM that cannot be\n"
"                         reached is an error naming the TCTI, never a fall-back to a\n"
"                         key file\n"
"  --timeout SECS         limit for the whole exchange (default 30, 1..3600), including\n"
"                         waiting while the registrar answers 503 with Retry-After\n"
"  --wait SECS            when the registrar answers 202 (it holds the device for an\n"
"                         administrator's approval, RFC 7030 4.2.3), keep asking for up\n"
"                         to SECS, each time after its Retry-After (1 to 3600 s) on a\n"
"                         new TLS connection with a new CSR; a line on stderr says so:\n"
"                         \"waiting for an administrator to approve SERIAL at URL;\n"
"                         retrying in N s (attempt K)\". Each attempt has its own\n"
"                         --timeout. A 202 to a voucher request is waited for the\n"
"                         same way, at most 60 s each time, sending the same\n"
"                         voucher-request again (RFC 8995 5.6). Default 0: stop at\n"
"                         the first 202 (exit 3); 0..86400\n"
"  --json                 print one JSON object on stdout when done:\n"
"                         {\"status\":\"enrolled\"|\"reenrolled\",\"serial\":..,\"ldevid\":..,\n"
"                         \"key\":..,\"ca\":..,\"metadata\":..,\"not_after\":..,\n"
"                         \"ldevid_serial\":..,\"server\":..,\"tls\":..,\n"
"                         \"channel_binding\":..,\"domain_ca_fingerprint\":..}\n"
"  --netid-if IFNAME      after success, report the MAC address of IFNAME (from\n"
"                         /sys/class/net/IFNAME/address) to the registrar, so its DHCP\n"
"                         server can recognise the device (repeatable)\n"
"  --dhcp-env FILE        after success, report the DHCPv4 client identifier\n"
"                         (LATCHKEY_DHCP_CLIENT_ID) and DHCPv6 DUID (LATCHKEY_DHCP_DUID)\n"
"                         from FILE, an env file the contrib DHCP client scripts write\n"
"                         (repeatable). Reporting uses a new connection with the new\n"
"                         LDevID; a failure is a warning, not an enrollment failure\n"
"  -q, --quiet            no progress lines (errors are still printed)\n"
"  -v, --verbose          more detail (HTTP status and sizes); twice: libcurl's trace too\n"
"  -h, --help             this text\n"
"  --version              print the version\n"
;

static const char help_tail[] =
"\n"
"Files written into DIR (each written to a temporary file, synced and renamed; the key\n"
"and certificate are staged and moved into place key first, so a crash never leaves a\n"
"certificate without its key):\n"
"  ldevid.key             the LDevID private key, PKCS#8 PEM, mode 0600; with\n"
"                         --key-store tpm the TPM-wrapped blob, mode 0600\n"
"  ldevid.pem             the LDevID, followed by any intermediate CA certificates\n"
"  domain-ca.pem          every certificate of the registrar's cacerts answer\n"
"  enrollment.json        server, label, device serial, LDevID serial, notAfter,\n"
"                         domain CA fingerprint, key type, time\n"
"\n"
"Keys in a TPM 2.0 (the tpm2-openssl provider, Debian package tpm2-openssl): the IDevID\n"
"key (--idevid-key), the LDevID key (--key-store tpm) or both may live in a TPM. The TLS\n"
"client handshake, the CSR and the voucher-request are then signed inside the TPM.\n"
"reenroll and status find a TPM LDevID key by its file's TSS2 header and use the same\n"
"TPM (--tpm, or $TPM2OPENSSL_TCTI). A key blob wrapped by another TPM fails to load\n"
"(\"the TPM at TCTI cannot load this key\"). `latchkey latch` needs a key file: see\n"
"latchkey latch --help.\n"
"\n"
"Progress goes to stderr, one line per step, each starting with \"latchkey: \".\n"
"\n"
"Exit status: 0 success, 1 failure (one line on stderr says why, e.g.\n"
"\"latchkey: enrollment refused: HTTP 403: ...\"), 2 usage error.\n"
"3: still pending, the registrar holds the device for an administrator's approval\n"
"(HTTP 202) and --wait ran out or was 0 (\"latchkey: enrollment pending: ...\").\n"
"5: reenroll renewed the LDevID, but the deploy hook failed (exited non-zero, was\n"
"killed or timed out; \"latchkey: warning: deploy hook failed: ...\").\n"
"update: 3 refused (\"latchkey update: refused: ...\"; nothing was installed).\n"
"\n"
"Standards: RFC 7030 (EST), RFC 9266 and RFC 5929 (channel bindings), IEEE 802.1AR.\n"
"See latchkey(8).\n";

enum cmd {
	CMD_ENROLL = 1,
	CMD_REENROLL
};

enum {
	OPT_SERVER = 256,
	OPT_IDEVID,
	OPT_IDEVID_KEY,
	OPT_OUT,
	OPT_CA,
	OPT_PIN,
	OPT_LABEL,
	OPT_KEY_TYPE,
	OPT_JSON,
	OPT_TIMEOUT,
	OPT_FORCE,
	OPT_VERSION,
	OPT_WAIT,
	OPT_MASA_ANCHOR,	/* brski */
	OPT_NETID_IF,		/* kea */
	OPT_DHCP_ENV,		/* kea */
	OPT_DEPLOY_HOOK,	/* reenroll */
	OPT_HOOK_TIMEOUT,	/* reenroll */
	OPT_KEY_STORE,
	OPT_TPM
};

static const struct option long_opts[] = {
	{ "server",		required_argument,	NULL, OPT_SERVER },
	{ "idevid",		required_argument,	NULL, OPT_IDEVID },
	{ "idevid-key",		required_argument,	NULL, OPT_IDEVID_KEY },
	{ "out",		required_argument,	NULL, OPT_OUT },
	{ "ca",			required_argument,	NULL, OPT_CA },
	{ "trust-fingerprint",	required_argument,	NULL, OPT_PIN },
	{ "label",		required_argument,	NULL, OPT_LABEL },
	{ "key-type",		required_argument,	NULL, OPT_KEY_TYPE },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "force",		no_argument,		NULL, OPT_FORCE },
	{ "wait",		required_argument,	NULL, OPT_WAIT },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, OPT_VERSION },
	{ "masa-anchor",	required_argument,	NULL, OPT_MASA_ANCHOR },
	{ "netid-if",		required_argument,	NULL, OPT_NETID_IF },
	{ "dhcp-env",		required_argument,	NULL, OPT_DHCP_ENV },
	{ "deploy-hook",	required_argument,	NULL, OPT_DEPLOY_HOOK },
	{ "deploy-hook-timeout", required_argument,	NULL, OPT_HOOK_TIMEOUT },
	{ "key-store",		required_argument,	NULL, OPT_KEY_STORE },
	{ "tpm",		required_argument,	NULL, OPT_TPM },
	{ NULL,			0,			NULL, 0 }
};

static const char *const key_types[] = { "p256", "p384", "ed25519", "rsa2048", NULL };

struct cli {
	int	quiet;
	int	verbose;
	int	json;
};

/* reenroll: what came after the renewal (deploy hook, confirmation to the registrar). */
struct cli_renewed {
	const char	*hook;		/* --deploy-hook; NULL or "": none */
	unsigned	 hook_timeout;	/* 0: HOOK_TIMEOUT_DEFAULT */
	int		 hook_rc;	/* hook_run(): 0 ok, 1 failed, -1 not started */
	char		 hook_desc[64];
	int		 confirmed;
	char		 superseded[512];
};

static void
cli_help(FILE *f, enum cmd cmd)
{
	fputs(usage_head, f);
	fputs(help_intro, f);
	if (cmd == 0 || cmd == CMD_ENROLL)
		fputs(help_enroll, f);
	if (cmd == 0 || cmd == CMD_REENROLL)
		fputs(help_reenroll, f);
	fputs(help_common, f);
	fputs(help_tail, f);
}

static int
cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line on stderr; returns the usage exit status. */
static int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "latchkey: %s%s", cmd ? cmd : "", cmd ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see latchkey %s%s--help)\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

static void
cli_progress(void *arg, int level, const char *line)
{
	const struct cli *c = arg;

	if (c->quiet || (level == AGENT_DEBUG && c->verbose < 1))
		return;
	fprintf(stderr, "latchkey: %s\n", line);
}

static int
cli_print_json(const char *status, const struct agent_result *r, const struct cli_renewed *rn)
{
	json_t *j, *sup;
	char *tok, *save = NULL, buf[sizeof(rn->superseded)];
	int rc;

	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "status", status,
	    "serial", r->device_serial,
	    "ldevid", r->cert_path,
	    "key", r->key_path,
	    "key_store", r->key_store,
	    "ca", r->ca_path,
	    "metadata", r->meta_path,
	    "not_after", r->not_after,
	    "ldevid_serial", r->ldevid_serial,
	    "server", r->server,
	    "tls", r->tls_version,
	    "channel_binding", r->chanbind_type,
	    "domain_ca_fingerprint", r->ca_fingerprint);
	if (j == NULL)
		return -1;
	if (r->voucher_path[0] != '\0' && (json_object_set_new(j, "voucher",	/* brski */
	    json_string(r->voucher_path)) != 0 || json_object_set_new(j, "pinned_domain_cert",
	    json_string(r->pinned_fingerprint)) != 0)) {
		json_decref(j);
		return -1;
	}
	if (rn != NULL) {	/* reenroll */
		if ((sup = json_array()) == NULL) {
			json_decref(j);
			return -1;
		}
		snprintf(buf, sizeof(buf), "%s", rn->superseded);
		for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",",
		    &save))
			json_array_append_new(sup, json_string(tok));
		json_object_set_new(j, "old_ldevid_serial", json_string(r->old_ldevid_serial));
		json_object_set_new(j, "confirmed", json_boolean(rn->confirmed));
		json_object_set_new(j, "superseded", sup);
		json_object_set_new(j, "deploy_hook", rn->hook == NULL || *rn->hook == '\0' ?
		    json_null() : json_pack("{s:s, s:b, s:s}", "command", rn->hook, "ok",
		    rn->hook_rc == 0, "result", rn->hook_desc));
	}
	rc = json_dumpf(j, stdout, JSON_COMPACT);
	json_decref(j);
	if (rc == 0 && (fputc('\n', stdout) == EOF || fflush(stdout) == EOF))
		rc = -1;
	return rc;
}

static int
cli_parse_timeout(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 3600)
		return -1;
	*out = (int)v;
	return 0;
}

/* --wait: 0 (do not wait) to 86400 seconds. */
static int
cli_parse_wait(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 86400)
		return -1;
	*out = (int)v;
	return 0;
}

/*
 * After an enrollment: report the network identifiers of the interfaces and DHCP env files
 * given (kea). Every failure is a warning: the enrollment stands.
 */
static void
cli_report_netids(const struct agent_opts *o, const struct cli *c, const char *const *ifs,
    size_t n_if, const char *const *envs, size_t n_env)
{
	struct netid_list *l;
	char err[512], *body = NULL;
	size_t i;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		fprintf(stderr, "latchkey: warning: network identifiers not reported: out of "
		    "memory\n");
		return;
	}
	for (i = 0; i < n_if; i++)
		if (netinfo_add_iface(l, ifs[i], err, sizeof(err)) == -1)
			fprintf(stderr, "latchkey: warning: %s\n", err);
	for (i = 0; i < n_env; i++)
		if (netinfo_add_env(l, envs[i], err, sizeof(err)) == -1)
			fprintf(stderr, "latchkey: warning: %s\n", err);
	if (l->n == 0) {
		fprintf(stderr, "latchkey: warning: no network identifier to report\n");
		goto out;
	}
	if ((body = netid_json(l)) == NULL) {
		fprintf(stderr, "latchkey: warning: network identifiers not reported: out of "
		    "memory\n");
		goto out;
	}
	if (agent_report_netids(o, body, strlen(body), err, sizeof(err)) == -1)
		fprintf(stderr, "latchkey: warning: network identifiers not reported: %s\n",
		    err);
	else if (!c->quiet)
		fprintf(stderr, "latchkey: reported %zu network identifier%s to the registrar\n",
		    l->n, l->n == 1 ? "" : "s");
out:
	free(body);
	free(l);
}

/*
 * reenroll, once the new LDevID is in place: the deploy hook (a failure is a warning, the
 * LDevID stays), then one use of the new LDevID, so that the registrar revokes the LDevIDs
 * it supersedes (after the hook: the services it reloads move to the new LDevID before the
 * old one is revoked).
 */
static void
cli_after_renewal(const struct agent_opts *o, const struct cli *c,
    const struct agent_result *r, struct cli_renewed *rn)
{
	struct hook_result hr;
	char err[1024];

	if (rn->hook != NULL && *rn->hook != '\0') {
		if (!c->quiet)
			fprintf(stderr, "latchkey: running the deploy hook\n");
		rn->hook_rc = hook_run_renewed(rn->hook, o->out_dir, r, rn->hook_timeout, &hr,
		    err, sizeof(err));
		if (rn->hook_rc == -1) {
			snprintf(rn->hook_desc, sizeof(rn->hook_desc), "not started");
			fprintf(stderr, "latchkey: warning: deploy hook not run: %s; the new "
			    "LDevID stays installed\n", err);
		} else {
			hook_describe(&hr, rn->hook_timeout, rn->hook_desc,
			    sizeof(rn->hook_desc));
			if (rn->hook_rc != 0)
				fprintf(stderr, "latchkey: warning: deploy hook failed: %s; the "
				    "new LDevID stays installed\n", rn->hook_desc);
			else if (!c->quiet)
				fprintf(stderr, "latchkey: deploy hook %s (%.1f s)\n",
				    rn->hook_desc, hr.secs);
		}
	}
	if (agent_confirm(o, r->ldevid_serial, rn->superseded, sizeof(rn->superseded), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: warning: new LDevID not confirmed to the registrar: "
		    "%s (the LDevID it replaced is revoked at the new one's next use)\n", err);
		return;
	}
	rn->confirmed = 1;
	if (!c->quiet)
		fprintf(stderr, "latchkey: registrar confirmed LDevID %s%s%s\n",
		    r->ldevid_serial, rn->superseded[0] != '\0' ? "; revoked as superseded: " :
		    "", rn->superseded);
}

/* enroll and reenroll: parse, run, report. */
static int
cli_enroll(enum cmd cmd, int argc, char **argv)
{
	const char *name = cmd == CMD_ENROLL ? "enroll" : "reenroll";
	char masa_anchor[4096];		/* brski */
	struct agent_opts o;
	struct agent_result r;
	struct cli_renewed rn;
	struct cli c;
	char err[1024];
	const char *netid_if[NETID_MAX], *dhcp_env[NETID_MAX];
	size_t n_if = 0, n_env = 0;
	int ch, i, ok, rc, enroll_only = 0, reenroll_only = 0;
	unsigned hook_timeout;
	char *end;

	memset(&o, 0, sizeof(o));
	memset(&c, 0, sizeof(c));
	memset(&rn, 0, sizeof(rn));
	o.timeout = AGENT_TIMEOUT_DEFAULT;
	o.chanbind = AGENT_CB_NORMAL;
	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":qvh", long_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_SERVER:
			o.server = optarg;
			break;
		case OPT_IDEVID:
			o.idevid_cert = optarg;
			enroll_only = ch;
			break;
		case OPT_IDEVID_KEY:
			o.idevid_key = optarg;
			enroll_only = ch;
			break;
		case OPT_OUT:
			o.out_dir = optarg;
			break;
		case OPT_CA:
			o.ca_file = optarg;
			enroll_only = ch;
			break;
		case OPT_PIN:
			o.trust_fp = optarg;
			enroll_only = ch;
			break;
		case OPT_MASA_ANCHOR:
			o.masa_anchor = optarg;
			enroll_only = ch;
			break;
		case OPT_LABEL:
			o.label = optarg;
			break;
		case OPT_KEY_TYPE:
			for (i = 0, ok = 0; key_types[i] != NULL; i++)
				ok |= strcmp(optarg, key_types[i]) == 0;
			if (!ok)
				return cli_usage(name, "unknown --key-type \"%s\" (p256, p384, "
				    "ed25519, rsa2048)", optarg);
			o.key_type = optarg;
			break;
		case OPT_KEY_STORE: {
			int ks;

			if ((ks = agent_key_store_parse(optarg)) == -1)
				return cli_usage(name, "unknown --key-store \"%s\" (file, tpm)",
				    optarg);
			o.key_store = ks;
			break;
		}
		case OPT_TPM:
			o.tpm_tcti = optarg;
			break;
		case OPT_JSON:
			c.json = 1;
			break;
		case OPT_TIMEOUT:
			if (cli_parse_timeout(optarg, &o.timeout) == -1)
				return cli_usage(name, "--timeout wants seconds, 1 to 3600, not "
				    "\"%s\"", optarg);
			break;
		case OPT_FORCE:
			o.force = 1;
			enroll_only = ch;
			break;
		case OPT_WAIT:
			if (cli_parse_wait(optarg, &o.wait) == -1)
				return cli_usage(name, "--wait wants seconds, 0 to 86400, not "
				    "\"%s\"", optarg);
			break;
		case OPT_NETID_IF:
			if (n_if >= NETID_MAX)
				return cli_usage(name, "too many --netid-if");
			netid_if[n_if++] = optarg;
			break;
		case OPT_DHCP_ENV:
			if (n_env >= NETID_MAX)
				return cli_usage(name, "too many --dhcp-env");
			dhcp_env[n_env++] = optarg;
			break;
		case OPT_DEPLOY_HOOK:
			if (strlen(optarg) >= HOOK_CMD_MAX)
				return cli_usage(name, "--deploy-hook longer than %d bytes",
				    HOOK_CMD_MAX - 1);
			rn.hook = optarg;
			reenroll_only = ch;
			break;
		case OPT_HOOK_TIMEOUT:
			errno = 0;
			hook_timeout = (unsigned)strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || *optarg == '-' ||
			    hook_timeout < 1 || hook_timeout > HOOK_TIMEOUT_MAX)
				return cli_usage(name, "--deploy-hook-timeout wants seconds, 1 to "
				    "%d, not \"%s\"", HOOK_TIMEOUT_MAX, optarg);
			rn.hook_timeout = hook_timeout;
			reenroll_only = ch;
			break;
		case 'q':
			c.quiet = 1;
			break;
		case 'v':
			c.verbose++;
			break;
		case 'h':
			cli_help(stdout, cmd);
			return 0;
		case OPT_VERSION:
			printf("latchkey %s\n", LATCHKEY_VERSION);
			return 0;
		case ':':
			return cli_usage(name, "%s needs an argument", argv[optind - 1]);
		default:
			return cli_usage(name, "unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage(name, "unexpected argument \"%s\"", argv[optind]);
	if (o.out_dir == NULL)
		return cli_usage(name, "--out DIR is required");
	if (cmd == CMD_ENROLL) {
		if (o.server == NULL)
			return cli_usage(name, "--server URL is required");
		if (o.idevid_cert == NULL || o.idevid_key == NULL)
			return cli_usage(name, "--idevid CERT and --idevid-key KEY are required");
		if ((o.ca_file != NULL) + (o.trust_fp != NULL) + (o.masa_anchor != NULL) > 1)
			return cli_usage(name, "give at most one of --ca FILE, "
			    "--trust-fingerprint sha256:HEX or --masa-anchor FILE");
		/* brski: the voucher path by default, with the factory MASA anchor. */
		if (o.ca_file == NULL && o.trust_fp == NULL && o.masa_anchor == NULL) {
			const char *slash = strrchr(o.idevid_cert, '/');

			if (slash == NULL)
				snprintf(masa_anchor, sizeof(masa_anchor), "masa-anchor.pem");
			else
				snprintf(masa_anchor, sizeof(masa_anchor), "%.*s/masa-anchor.pem",
				    (int)(slash - o.idevid_cert), o.idevid_cert);
			o.masa_anchor = masa_anchor;
		}
	} else if (enroll_only) {
		for (i = 0; long_opts[i].name != NULL; i++)
			if (long_opts[i].val == enroll_only)
				break;
		return cli_usage(name, "--%s is an enroll option", long_opts[i].name);
	}
	if (cmd == CMD_ENROLL && reenroll_only) {
		for (i = 0; long_opts[i].name != NULL; i++)
			if (long_opts[i].val == reenroll_only)
				break;
		return cli_usage(name, "--%s is a reenroll option", long_opts[i].name);
	}
	o.curl_verbose = c.verbose >= 2;
	o.progress = cli_progress;
	o.progress_arg = &c;
	if (o.key_store == AGENT_KEYSTORE_TPM && o.key_type != NULL &&
	    strcmp(o.key_type, "p256") != 0)
		return cli_usage(name, "--key-store tpm makes P-256 keys only (--key-type p256)");

	/* The TPM first: an unreachable one is a start-up error (certs/tpmkey.h). */
	if ((rc = agent_tpm_prepare(&o, err, sizeof(err))) == -1) {
		fprintf(stderr, "latchkey: %s\n", err);
		return 1;
	}
	if (rc == 1 && !c.quiet)
		fprintf(stderr, "latchkey: using the TPM at %s\n", tpmkey_tcti());
	if (agent_global_init() == -1) {
		fprintf(stderr, "latchkey: libcurl with the OpenSSL backend is required\n");
		return 1;
	}
	if (cmd == CMD_ENROLL)
		rc = agent_enroll(&o, &r, err, sizeof(err));
	else
		rc = agent_reenroll(&o, &r, err, sizeof(err));
	if (rc == 0 && cmd == CMD_REENROLL)
		cli_after_renewal(&o, &c, &r, &rn);
	if (rc == 0 && n_if + n_env > 0)
		cli_report_netids(&o, &c, netid_if, n_if, dhcp_env, n_env);
	agent_global_cleanup();
	tpmkey_close();
	if (rc == -1) {
		fprintf(stderr, "latchkey: %s\n", err);
		return r.pending ? ENROLL_EXIT_PENDING : 1;
	}
	if (!c.quiet)
		fprintf(stderr, "latchkey: %s: LDevID serial %s valid until %s, written to %s\n",
		    cmd == CMD_ENROLL ? "enrolled" : "re-enrolled", r.ldevid_serial,
		    r.not_after, r.cert_path);
	if (!c.quiet && r.voucher_path[0] != '\0')	/* brski */
		fprintf(stderr, "latchkey: voucher written to %s\n", r.voucher_path);
	if (c.json && cli_print_json(cmd == CMD_ENROLL ? "enrolled" : "reenrolled", &r,
	    cmd == CMD_REENROLL ? &rn : NULL) == -1) {
		fprintf(stderr, "latchkey: writing JSON to stdout failed\n");
		return 1;
	}
	return rn.hook != NULL && *rn.hook != '\0' && rn.hook_rc != 0 ? EXIT_HOOK_FAILED : 0;
}

int
cmd_enroll(int argc, char **argv)
{
	return cli_enroll(CMD_ENROLL, argc, argv);
}

int
cmd_reenroll(int argc, char **argv)
{
	return cli_enroll(CMD_REENROLL, argc, argv);
}

void
cmd_enroll_help(FILE *f)
{
	cli_help(f, 0);
}
