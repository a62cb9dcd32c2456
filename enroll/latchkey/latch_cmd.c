/*
 * latch_cmd: `latchkey latch`: bring up an IKEv2 SA with the registrar through charon's
 * VICI socket and latch to its identity (RFC 5660), run the registrar side standalone, or
 * ask for a latch's state. See latch_cmd.h and the help text below.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "certs/tpmkey.h"
#include "enroll/latch/latch.h"
#include "enroll/latchkey/commands.h"
#include "enroll/latch/charon.h"
#include "enroll/common/b64.h"
#include "enroll/latch/latchmgr.h"


static const char latch_help[] =
"usage: latchkey latch --peer ADDR [--ldevid DIR] [--vici URI] [options]\n"
"       latchkey latch --respond [--ldevid DIR | --cert F --key F --ca F] [options]\n"
"       latchkey latch --status --state-file FILE [--peer ADDR | --serial S] [--json]\n"
"\n"
"latchkey latch protects the sessions between a device and its registrar with IPsec and\n"
"latches them (RFC 5660): charon (strongSwan) brings up an IKEv2 SA authenticated by both\n"
"sides' LDevIDs, and the session is bound to the peer identity of that SA, not to its\n"
"SPIs or keys. Rekeying the IKE or CHILD SA keeps the latch ESTABLISHED; an SA from a\n"
"different identity for the same peer address, or a peer reboot (INITIAL_CONTACT: the\n"
"peer's old IKE SA dropped and a new one up), moves it to BROKEN; an administrative\n"
"close (revocation), the end of the connection, or (device side) the registrar deleting\n"
"the SA to CLOSED.\n"
"\n"
"Modes:\n"
"  --peer ADDR            device side (initiator): load our LDevID, key and the domain CA\n"
"                         into charon, load a connection to ADDR (the registrar's outer\n"
"                         address), initiate it and wait until the latch is ESTABLISHED.\n"
"                         Prints the state and the channel binding, then exits (the SAs\n"
"                         stay up) unless --hold is given\n"
"  --respond              registrar side, standalone (latchkeyd does the same with\n"
"                         \"latch = yes\"): accept IKE from any peer certified by the domain\n"
"                         CA, keep one latch per peer address, apply the disposition on\n"
"                         BROKEN; runs until SIGINT/SIGTERM\n"
"  --status               read FILE written by --state-file and report one latch (by\n"
"                         --peer or --serial, else all): exit 0 when ESTABLISHED, 3 when\n"
"                         BROKEN (\"latch broken\"), 4 when CLOSED, 1 when LARVAL or unknown\n"
"\n"
"Credentials (initiator and responder):\n"
"  --ldevid DIR           DIR/ldevid.pem, DIR/ldevid.key and DIR/domain-ca.pem, as written\n"
"                         by latchkey enroll (default DIR: the current directory)\n"
"  --cert FILE, --key FILE, --ca FILE\n"
"                         instead of --ldevid, or to override one of its files (the\n"
"                         registrar uses its certificate issued by the domain CA)\n"
"                         The key must be a key file: an LDevID key in a TPM\n"
"                         (--key-store tpm) is refused, because the latch hands charon\n"
"                         the key file over VICI and Debian 12's charon tpm plugin takes\n"
"                         TPM keys only by persistent handle (see latchkey(8))\n"
"\n"
"Options:\n"
"  --vici URI             charon's VICI socket (default unix:///var/run/charon.vici)\n"
"  --name NAME            connection name in charon (default latchkey, latchkey-registrar\n"
"                         with --respond)\n"
"  --local ADDR           our outer address (default: any)\n"
"  --mode transport|tunnel\n"
"                         ESP mode (default transport). Tunnel mode with --local-ts and\n"
"                         --remote-ts (host addresses, e.g. /32 on lo) is for kernels\n"
"                         without ESP, where charon's kernel-libipsec carries the traffic\n"
"  --local-ts CIDR, --remote-ts CIDR\n"
"                         CHILD SA traffic selectors (default: the SA's addresses)\n"
"  --remote-id ID         accept only this peer IKE identity (e.g. the registrar's DN).\n"
"                         Default with --peer: the subject of the registrar certificate\n"
"                         that enrollment accepted (DIR/enrollment.json\n"
"                         \"registrar_cert\", checked to carry id-kp-cmcRA and to chain\n"
"                         to the domain CA), so that no other device of the domain can\n"
"                         pose as the registrar. Without it (an enrollment by an older\n"
"                         latchkey): give --remote-id or run latchkey reenroll. With\n"
"                         --respond: any LDevID of the domain CA\n"
"  --ike-proposals LIST, --esp-proposals LIST\n"
"                         comma-separated strongSwan proposals (default\n"
"                         " CHARON_IKE_PROPOSALS "\n"
"                         and " CHARON_ESP_PROPOSALS ")\n"
"  --rekey SECS           CHILD SA rekey time (IKE: three times that); default charon's\n"
"  --disposition reset|wait|unreachable\n"
"                         what BROKEN does to latched traffic (RFC 5660 5.5): reset closes\n"
"                         every TCP connection to the peer with RST (default); wait and\n"
"                         unreachable leave it to time out. Latch-aware callers always\n"
"                         see the distinct latch-broken status\n"
"  --timeout SECS         how long --peer waits for ESTABLISHED (default 30)\n"
"  --hold                 with --peer: stay running, print each transition; exit 3 when\n"
"                         the latch breaks (also: SA lost without a DELETE), 4 when it\n"
"                         is closed (also: the registrar deleted the SA, e.g. on\n"
"                         revocation), 0 on SIGINT/SIGTERM\n"
"                         (the connection is then unloaded)\n"
"  --state-file FILE      write every latch's state as a JSON array to FILE: with\n"
"                         --respond after every change; with --peer while the SA comes\n"
"                         up and once it is ESTABLISHED, then after every change while\n"
"                         --hold keeps it running\n"
"  --control PATH         with --respond: a unix socket (mode 0600) taking one-line\n"
"                         requests \"close SERIAL\" (revocation) and \"show [SERIAL]\"\n"
"  --crl FILE             with --respond: the domain CRL (DER or PEM, e.g. latchkeyd's\n"
"                         crl-file), loaded into charon at start and whenever FILE\n"
"                         changes: a revoked LDevID then fails IKE authentication\n"
"  --serial S             with --status: the device serial to report\n"
"  --json                 output one JSON object per latch: {\"peer\",\"state\",\"peer_id\",\n"
"                         \"serial\",\"disposition\",\"rekeys\",\"resets\",\"reason\",\n"
"                         \"remote_ts\",\"channel_binding\"}\n"
"  -q, --quiet            no progress lines\n"
"  -h, --help             this text\n"
"\n"
"Channel binding (RFC 5056): \"channel_binding\" is SHA-256 over the label\n"
"\"latchkey ipsec-latch v1\" and both peers' certificate SHA-256 fingerprints in ascending\n"
"order. Both ends compute the same value; rekeys do not change it.\n"
"\n"
"Exit status: 0 success, 1 failure (one line on stderr says why), 2 usage error,\n"
"3 latch broken, 4 latch closed.\n"
"\n"
"Standards: RFC 5660 (connection latching), RFC 7296 (IKEv2), RFC 4303 (ESP), RFC 5056\n"
"(channel bindings). strongSwan VICI protocol.\n";

enum {
	OPT_PEER = 256, OPT_RESPOND, OPT_STATUS, OPT_LDEVID, OPT_CERT, OPT_KEY, OPT_CA,
	OPT_VICI, OPT_NAME, OPT_LOCAL, OPT_MODE, OPT_LTS, OPT_RTS, OPT_RID, OPT_IKEP,
	OPT_ESPP, OPT_REKEY, OPT_DISP, OPT_TIMEOUT, OPT_HOLD, OPT_STATE, OPT_CONTROL,
	OPT_SERIAL, OPT_JSON, OPT_CRL
};

static const struct option latch_opts[] = {
	{ "peer",		required_argument,	NULL, OPT_PEER },
	{ "respond",		no_argument,		NULL, OPT_RESPOND },
	{ "status",		no_argument,		NULL, OPT_STATUS },
	{ "ldevid",		required_argument,	NULL, OPT_LDEVID },
	{ "cert",		required_argument,	NULL, OPT_CERT },
	{ "key",		required_argument,	NULL, OPT_KEY },
	{ "ca",			required_argument,	NULL, OPT_CA },
	{ "vici",		required_argument,	NULL, OPT_VICI },
	{ "name",		required_argument,	NULL, OPT_NAME },
	{ "local",		required_argument,	NULL, OPT_LOCAL },
	{ "mode",		required_argument,	NULL, OPT_MODE },
	{ "local-ts",		required_argument,	NULL, OPT_LTS },
	{ "remote-ts",		required_argument,	NULL, OPT_RTS },
	{ "remote-id",		required_argument,	NULL, OPT_RID },
	{ "ike-proposals",	required_argument,	NULL, OPT_IKEP },
	{ "esp-proposals",	required_argument,	NULL, OPT_ESPP },
	{ "rekey",		required_argument,	NULL, OPT_REKEY },
	{ "disposition",	required_argument,	NULL, OPT_DISP },
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "hold",		no_argument,		NULL, OPT_HOLD },
	{ "state-file",		required_argument,	NULL, OPT_STATE },
	{ "control",		required_argument,	NULL, OPT_CONTROL },
	{ "serial",		required_argument,	NULL, OPT_SERIAL },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "crl",		required_argument,	NULL, OPT_CRL },
	{ "quiet",		no_argument,		NULL, 'q' },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 }
};

struct latch_args {
	const char	*peer, *ldevid, *cert, *key, *ca, *vici, *name, *local, *lts, *rts;
	const char	*rid, *ikep, *espp, *state_file, *control, *serial, *crl;
	int		 respond, status, tunnel, rekey, timeout, hold, json, quiet;
	enum latch_disposition disp;
	char		 certbuf[4096], keybuf[4096], cabuf[4096], metabuf[4096];
	char		 ridbuf[CHARON_ID_MAX];
};

static volatile sig_atomic_t latch_stop;

static int
latch_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
latch_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "latchkey: latch: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see latchkey latch --help)\n");
	return EXIT_USAGE;
}

static void
latch_progress(const struct latch_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
latch_progress(const struct latch_args *a, const char *fmt, ...)
{
	va_list ap;

	if (a->quiet)
		return;
	fprintf(stderr, "latchkey: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
latch_num(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static int
latch_parse(int argc, char **argv, struct latch_args *a)
{
	const char *mode = NULL;
	int c;

	memset(a, 0, sizeof(*a));
	a->timeout = 30;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":qh", latch_opts, NULL)) != -1) {
		switch (c) {
		case OPT_PEER:		a->peer = optarg; break;
		case OPT_RESPOND:	a->respond = 1; break;
		case OPT_STATUS:	a->status = 1; break;
		case OPT_LDEVID:	a->ldevid = optarg; break;
		case OPT_CERT:		a->cert = optarg; break;
		case OPT_KEY:		a->key = optarg; break;
		case OPT_CA:		a->ca = optarg; break;
		case OPT_VICI:		a->vici = optarg; break;
		case OPT_NAME:		a->name = optarg; break;
		case OPT_LOCAL:		a->local = optarg; break;
		case OPT_MODE:		mode = optarg; break;
		case OPT_LTS:		a->lts = optarg; break;
		case OPT_RTS:		a->rts = optarg; break;
		case OPT_RID:		a->rid = optarg; break;
		case OPT_IKEP:		a->ikep = optarg; break;
		case OPT_ESPP:		a->espp = optarg; break;
		case OPT_HOLD:		a->hold = 1; break;
		case OPT_STATE:		a->state_file = optarg; break;
		case OPT_CONTROL:	a->control = optarg; break;
		case OPT_SERIAL:	a->serial = optarg; break;
		case OPT_JSON:		a->json = 1; break;
		case OPT_CRL:		a->crl = optarg; break;
		case 'q':		a->quiet = 1; break;
		case 'h':
			fputs(latch_help, stdout);
			return -2;
		case OPT_REKEY:
			if (latch_num(optarg, 30, 86400, &a->rekey) == -1)
				return latch_usage("--rekey: 30..86400 seconds");
			break;
		case OPT_TIMEOUT:
			if (latch_num(optarg, 1, 3600, &a->timeout) == -1)
				return latch_usage("--timeout: 1..3600 seconds");
			break;
		case OPT_DISP:
			if (latch_disposition_parse(optarg, &a->disp) == -1)
				return latch_usage("--disposition: reset, wait or unreachable");
			break;
		case ':':
			return latch_usage("%s needs a value", argv[optind - 1]);
		default:
			return latch_usage("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return latch_usage("unexpected argument \"%s\"", argv[optind]);
	if (a->respond + a->status + (a->peer != NULL && !a->status) != 1)
		return latch_usage("give exactly one of --peer, --respond, --status");
	if (mode != NULL) {
		if (strcmp(mode, "tunnel") == 0)
			a->tunnel = 1;
		else if (strcmp(mode, "transport") != 0)
			return latch_usage("--mode: transport or tunnel");
	}
	if (a->status && a->state_file == NULL)
		return latch_usage("--status needs --state-file");
	if (a->hold && a->peer == NULL)
		return latch_usage("--hold goes with --peer");
	if (a->control != NULL && !a->respond)
		return latch_usage("--control goes with --respond");
	if (a->crl != NULL && !a->respond)
		return latch_usage("--crl goes with --respond");
	if (!a->status) {
		const char *d = a->ldevid != NULL ? a->ldevid : ".";

		snprintf(a->certbuf, sizeof(a->certbuf), "%s/ldevid.pem", d);
		snprintf(a->keybuf, sizeof(a->keybuf), "%s/ldevid.key", d);
		snprintf(a->cabuf, sizeof(a->cabuf), "%s/domain-ca.pem", d);
		snprintf(a->metabuf, sizeof(a->metabuf), "%s/enrollment.json", d);
		if (a->cert == NULL)
			a->cert = a->certbuf;
		if (a->key == NULL)
			a->key = a->keybuf;
		if (a->ca == NULL)
			a->ca = a->cabuf;
	}
	return 0;
}

static void
latch_print(const struct latch_args *a, const struct charon_info *info)
{
	char *s;
	int i;

	if (a->json) {
		if ((s = charon_info_json(info)) != NULL) {
			printf("%s\n", s);
			free(s);
		}
	} else {
		printf("peer %s: %s", info->peer_addr, latch_state_name(info->state));
		if (info->peer_id[0] != '\0')
			printf(", identity \"%s\"", info->peer_id);
		if (info->reason[0] != '\0')
			printf(" (%s)", info->reason);
		if (info->has_cb) {
			printf(", channel binding ");
			for (i = 0; i < LATCH_CB_LEN; i++)
				printf("%02x", info->cb[i]);
		}
		printf("\n");
	}
	fflush(stdout);
}

static void
latch_write_state(const struct latch_args *a, const struct charon *ctl)
{
	struct charon_info info;
	char tmp[4200], *s;
	json_t *arr, *o;
	size_t i;

	if (a->state_file == NULL || (arr = json_array()) == NULL)
		return;
	for (i = 0; i < charon_count(ctl); i++) {
		if (charon_info(ctl, i, &info) == -1 || (s = charon_info_json(&info)) == NULL)
			continue;
		if ((o = json_loads(s, 0, NULL)) != NULL)
			json_array_append_new(arr, o);
		free(s);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", a->state_file);
	if (json_dump_file(arr, tmp, JSON_COMPACT) == 0)
		(void)rename(tmp, a->state_file);
	json_decref(arr);
}

struct latch_hold {
	const struct latch_args	*a;
	struct charon		*ctl;
	int			 ended;		/* exit status once the latch ended */
};

static void
latch_on_change(void *arg, const struct charon_info *info, enum latch_action act)
{
	struct latch_hold *h = arg;

	if (h->a->hold && act != LATCH_ACT_NONE)
		latch_print(h->a, info);
	latch_write_state(h->a, h->ctl);
	if (strcmp(info->peer_addr, h->a->peer) != 0)
		return;
	if (act == LATCH_ACT_BREAK)
		h->ended = LATCH_EXIT_BROKEN;
	else if (act == LATCH_ACT_CLOSE)
		h->ended = LATCH_EXIT_CLOSED;
}

static void
latch_on_signal(int sig)
{
	(void)sig;
	latch_stop = 1;
}

/*
 * Without --remote-id the device accepts only the registrar as its IKE peer: the subject
 * of the registrar certificate its enrollment accepted (enrollment.json "registrar_cert"),
 * checked by charon_registrar_id() against the domain CA and for id-kp-cmcRA. Any LDevID
 * of the domain would otherwise pass charon's "any certificate of the domain CA".
 */
static int
latch_default_rid(struct latch_args *a)
{
	struct stat st;
	json_error_t je;
	json_t *j = NULL, *v;
	unsigned char *der = NULL;
	const char *b64;
	char err[512];
	size_t len = 0;
	int rc = -1;

	errno = 0;
	if (stat(a->metabuf, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > 65536 ||
	    (j = json_load_file(a->metabuf, JSON_REJECT_DUPLICATES, &je)) == NULL) {
		fprintf(stderr, "latchkey: latch: %s: %s; the registrar's identity is not "
		    "known: give --remote-id\n", a->metabuf, errno == ENOENT ?
		    "no such file" : "unreadable");
		goto out;
	}
	if ((v = json_object_get(j, "registrar_cert")) == NULL || !json_is_string(v)) {
		fprintf(stderr, "latchkey: latch: %s has no \"registrar_cert\" (enrolled by "
		    "an older latchkey): run latchkey reenroll, or give --remote-id\n",
		    a->metabuf);
		goto out;
	}
	b64 = json_string_value(v);
	if ((der = b64_decode(b64, strlen(b64), &len, err, sizeof(err))) == NULL ||
	    charon_registrar_id(der, len, a->ca, a->ridbuf, sizeof(a->ridbuf), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: latch: %s: %s\n", a->metabuf, err);
		goto out;
	}
	a->rid = a->ridbuf;
	latch_progress(a, "accepting only the registrar \"%s\" as peer (from %s)", a->rid,
	    a->metabuf);
	rc = 0;
out:
	free(der);
	json_decref(j);
	return rc;
}

static int
latch_initiator(struct latch_args *a)
{
	struct charon_conf conf;
	struct charon_info info;
	struct latch_hold h;
	struct charon *ctl;
	struct sigaction sa;
	char err[512];
	size_t i;
	int rc = 1;

	if (a->rid == NULL && latch_default_rid(a) == -1)
		return 1;
	memset(&conf, 0, sizeof(conf));
	conf.vici_uri = a->vici;
	conf.name = a->name;
	conf.local_addr = a->local;
	conf.peer_addr = a->peer;
	conf.cert_file = a->cert;
	conf.key_file = a->key;
	conf.ca_file = a->ca;
	conf.local_ts = a->lts;
	conf.remote_ts = a->rts;
	conf.tunnel = a->tunnel;
	conf.remote_id = a->rid;
	conf.ike_proposals = a->ikep;
	conf.esp_proposals = a->espp;
	conf.rekey_time = a->rekey;
	conf.disposition = a->disp;
	conf.initiator = 1;
	if ((ctl = charon_new(&conf, err, sizeof(err))) == NULL) {
		fprintf(stderr, "latchkey: %s\n", err);
		return 1;
	}
	memset(&h, 0, sizeof(h));
	h.a = a;
	h.ctl = ctl;
	charon_set_cb(ctl, latch_on_change, &h);
	latch_progress(a, "loading credentials and connection into charon (%s)",
	    a->vici != NULL ? a->vici : CHARON_DEFAULT_VICI);
	if (charon_start(ctl, err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: %s\n", err);
		goto out;
	}
	latch_progress(a, "initiating IKEv2 with %s", a->peer);
	if (charon_initiate(ctl, a->timeout * 1000, err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: %s\n", err);
		goto out;
	}
	for (i = 0; i < charon_count(ctl); i++)
		if (charon_info(ctl, i, &info) == 0 && strcmp(info.peer_addr, a->peer) == 0)
			latch_print(a, &info);
	latch_write_state(a, ctl);
	rc = 0;
	if (!a->hold)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = latch_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	latch_progress(a, "holding the latch with %s (SIGTERM to stop)", a->peer);
	while (!latch_stop && h.ended == 0) {
		if (charon_process(ctl, 500, err, sizeof(err)) == -1) {
			if (latch_stop)
				break;
			fprintf(stderr, "latchkey: %s\n", err);
			rc = 1;
			goto out;
		}
	}
	if (h.ended == LATCH_EXIT_BROKEN) {
		for (i = 0; i < charon_count(ctl); i++)
			if (charon_info(ctl, i, &info) == 0 &&
			    strcmp(info.peer_addr, a->peer) == 0)
				fprintf(stderr, "latchkey: latch broken: %s\n", info.reason);
		rc = LATCH_EXIT_BROKEN;
	} else if (h.ended == LATCH_EXIT_CLOSED) {
		fprintf(stderr, "latchkey: latch closed\n");
		rc = LATCH_EXIT_CLOSED;
	}
	(void)charon_unload(ctl, NULL, 0);
out:
	charon_free(ctl);
	return rc;
}

static void
latch_mgr_log(void *arg, const char *line)
{
	const struct latch_args *a = arg;

	latch_progress(a, "%s", line);
}

static void
latch_on_evsignal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int
latch_responder(const struct latch_args *a)
{
	struct latchmgr_conf conf;
	struct event_base *base;
	struct event *sigint = NULL, *sigterm = NULL;
	struct latchmgr *m = NULL;
	char err[512];
	int rc = 1;

	memset(&conf, 0, sizeof(conf));
	conf.vici_uri = a->vici;
	conf.name = a->name;
	conf.cert_file = a->cert;
	conf.key_file = a->key;
	conf.ca_file = a->ca;
	conf.local_addr = a->local;
	conf.local_ts = a->lts;
	conf.remote_ts = a->rts;
	conf.tunnel = a->tunnel;
	conf.disposition = a->disp;
	conf.state_file = a->state_file;
	conf.control_path = a->control;
	conf.crl_file = a->crl;
	if ((base = event_base_new()) == NULL) {
		fprintf(stderr, "latchkey: cannot create the event loop\n");
		return 1;
	}
	err[0] = '\0';
	if ((m = latchmgr_new(&conf, base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "latchkey: %s\n", err);
		goto out;
	}
	latchmgr_set_log(m, latch_mgr_log, (void *)a);
	if (!latchmgr_connected(m))
		fprintf(stderr, "latchkey: %s (retrying)\n", err);
	else
		latch_progress(a, "responder ready: latching peers of the domain CA");
	sigint = evsignal_new(base, SIGINT, latch_on_evsignal, base);
	sigterm = evsignal_new(base, SIGTERM, latch_on_evsignal, base);
	if (sigint == NULL || sigterm == NULL || event_add(sigint, NULL) == -1 ||
	    event_add(sigterm, NULL) == -1) {
		fprintf(stderr, "latchkey: cannot handle signals\n");
		goto out;
	}
	event_base_dispatch(base);
	latch_progress(a, "responder stopping");
	rc = 0;
out:
	latchmgr_free(m);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	event_base_free(base);
	return rc;
}

/* --status: a latch-aware caller's view of a latch in a state file. */
static int
latch_status(const struct latch_args *a)
{
	json_error_t je;
	json_t *arr, *o;
	const char *st, *peer, *ser, *reason;
	size_t i;
	int rc = 1, found = 0, r;

	if ((arr = json_load_file(a->state_file, 0, &je)) == NULL || !json_is_array(arr)) {
		fprintf(stderr, "latchkey: %s: %s\n", a->state_file,
		    arr == NULL ? je.text : "not a JSON array");
		json_decref(arr);
		return 1;
	}
	json_array_foreach(arr, i, o) {
		st = json_string_value(json_object_get(o, "state"));
		peer = json_string_value(json_object_get(o, "peer"));
		ser = json_string_value(json_object_get(o, "serial"));
		reason = json_string_value(json_object_get(o, "reason"));
		if (st == NULL || peer == NULL)
			continue;
		if (a->peer != NULL && strcmp(peer, a->peer) != 0)
			continue;
		if (a->serial != NULL && (ser == NULL || strcmp(ser, a->serial) != 0))
			continue;
		found++;
		if (a->json) {
			char *s = json_dumps(o, JSON_COMPACT);

			if (s != NULL)
				printf("%s\n", s);
			free(s);
		} else
			printf("peer %s: %s%s%s%s\n", peer, st,
			    reason != NULL && reason[0] ? " (" : "", reason != NULL ? reason : "",
			    reason != NULL && reason[0] ? ")" : "");
		if (strcmp(st, "ESTABLISHED") == 0)
			r = 0;
		else if (strcmp(st, "BROKEN") == 0)
			r = LATCH_EXIT_BROKEN;
		else if (strcmp(st, "CLOSED") == 0)
			r = LATCH_EXIT_CLOSED;
		else
			r = 1;
		/* The worst state wins when several latches match. */
		if (found == 1 || r > rc || (rc == 0 && r != 0))
			rc = r;
	}
	json_decref(arr);
	if (found == 0) {
		fprintf(stderr, "latchkey: no latch%s%s in %s\n", a->peer ? " for " : "",
		    a->peer ? a->peer : "", a->state_file);
		return 1;
	}
	if (rc == LATCH_EXIT_BROKEN)
		fprintf(stderr, "latchkey: latch broken\n");
	else if (rc == LATCH_EXIT_CLOSED)
		fprintf(stderr, "latchkey: latch closed\n");
	return rc;
}

int
cmd_latch(int argc, char **argv)
{
	struct latch_args *a;
	int rc;

	if ((a = malloc(sizeof(*a))) == NULL) {
		fprintf(stderr, "latchkey: out of memory\n");
		return 1;
	}
	rc = latch_parse(argc, argv, a);
	if (rc == 0 && !a->status && tpmkey_ref_kind(a->key) != TPMKEY_NONE) {
		/* charon's tpm plugin takes keys by persistent handle through its own TSS2
		 * code, and the latch hands charon a key file: see latchkey(8), KEYS IN A TPM */
		fprintf(stderr, "latchkey: latch: %s is a TPM key; the latch needs the LDevID "
		    "key as a file (enroll with --key-store file)\n", a->key);
		rc = 1;
	} else if (rc == -2)
		rc = 0;
	else if (rc == 0) {
		if (a->status)
			rc = latch_status(a);
		else if (a->respond)
			rc = latch_responder(a);
		else
			rc = latch_initiator(a);
	}
	free(a);
	return rc;
}
