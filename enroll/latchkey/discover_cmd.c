/* discover_cmd: `latchkey discover`; see discover_cmd.h. */
#include "enroll/latchkey/commands.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>

#include "mdns/browse.h"
#include "mdns/txt.h"

#define DISCOVER_TIMEOUT_MAX	600000	/* ms */

static const char discover_help[] =
"usage: latchkey discover [--timeout MS] [--all] [--type TYPE]... [--json]\n"
"       latchkey discover --wait-removed NAME [--type TYPE] [--timeout MS]\n"
"\n"
"latchkey discover finds latchkey's servers on the local link with DNS-SD over multicast\n"
"DNS (RFC 6763, RFC 6762), through the local avahi-daemon (reached over the D-Bus system\n"
"bus). It browses the service types\n"
"  _brski-registrar._tcp    a BRSKI registrar (RFC 8995 4.1/4.2)\n"
"  _brski-proxy._tcp        a BRSKI join proxy (RFC 8995 4.1)\n"
"  _latchkey-posture._tcp   a posture server\n"
"  _latchkey-update._tcp    an update server\n"
"resolves every instance (host, address, port, TXT) and prints the usable ones, best first.\n"
"\n"
"It stops 150 ms after the first usable answer (to collect that server's other services\n"
"and interfaces), or at the timeout. A newly started server takes about a second to\n"
"appear (mDNS probing), an already known one a few milliseconds.\n"
"\n"
"options:\n"
"  --timeout MS           upper bound for the whole search, in milliseconds\n"
"                         (default 3000, 1..600000)\n"
"  --all                  do not stop at the first answer: collect until avahi-daemon has\n"
"                         reported everything it knows for every type (or the timeout)\n"
"  --type TYPE            browse TYPE (e.g. _brski-registrar._tcp) instead of the four\n"
"                         types above; repeat for several\n"
"  --json                 print one JSON object on stdout:\n"
"                         {\"elapsed_ms\":N|null,\"total_ms\":N,\"candidates\":[{\"type\":..,\n"
"                         \"name\":..,\"domain\":..,\"host\":..,\"address\":..,\"family\":\n"
"                         \"IPv4\"|\"IPv6\",\"port\":..,\"interface\":..,\"ifindex\":..,\n"
"                         \"pri\":..,\"local\":..,\"elapsed_ms\":..,\"txt\":{KEY:VALUE|true},\n"
"                         \"url\":\"https://ADDR:PORT/.well-known/est\"}]}\n"
"                         elapsed_ms is the time from the start to the first usable\n"
"                         answer (null when none); a TXT value that is not UTF-8 text is\n"
"                         given as \"hex:...\"\n"
"  --wait-removed NAME    instead of listing: wait until the instance NAME of TYPE\n"
"                         (default _brski-registrar._tcp) is gone from the link; exit 0\n"
"                         when it is gone (or was never there), 1 when it is still there\n"
"                         at the timeout\n"
"  -h, --help             this text\n"
"\n"
"Candidates are ordered by TXT pri (lower first, default 100), then IPv4 before IPv6,\n"
"then interface index, then instance name. An answer is skipped when it has no address,\n"
"announces a txtvers other than 1, a TXT path that is not a plain absolute URL path, or\n"
"(for the BRSKI types) a TXT rt naming neither est-tls nor brski.\n"
"\n"
"TXT keys (see latchkey(8)): txtvers=1; rt (protocols, e.g. est-tls,brski); path (EST path\n"
"prefix, default /.well-known/est); pri (0..65535, lower first); dom (owner domain); cafp\n"
"(sha256:HEX of the domain CA, a hint).\n"
"\n"
"SECURITY: mDNS is unauthenticated; anyone on the link can answer. A discovered server\n"
"is only a hint where to try. Nothing discovered is trusted without a voucher (RFC 8995)\n"
"or operator pinning (enroll --ca or --trust-fingerprint); a fingerprint from TXT (cafp)\n"
"is never enough on its own.\n"
"\n"
"Human output: one line per candidate:\n"
"  TYPE \"NAME\" ADDRESS PORT if IFNAME IPv4|IPv6 host HOST pri N url URL txt K=V ...\n"
"\n"
"Exit status: 0 a usable server was found (or, with --wait-removed, it is gone),\n"
"1 nothing found or an error (one line on stderr says which), 2 usage error.\n";

enum {
	OPT_TIMEOUT = 256,
	OPT_JSON,
	OPT_ALL,
	OPT_TYPE,
	OPT_WAIT_REMOVED
};

static const struct option discover_opts[] = {
	{ "timeout",		required_argument,	NULL, OPT_TIMEOUT },
	{ "json",		no_argument,		NULL, OPT_JSON },
	{ "all",		no_argument,		NULL, OPT_ALL },
	{ "type",		required_argument,	NULL, OPT_TYPE },
	{ "wait-removed",	required_argument,	NULL, OPT_WAIT_REMOVED },
	{ "help",		no_argument,		NULL, 'h' },
	{ NULL,			0,			NULL, 0 }
};

static int
discover_usage(const char *what, const char *arg)
{
	fprintf(stderr, "latchkey: discover: %s%s%s%s (see latchkey discover --help)\n", what,
	    arg != NULL ? " \"" : "", arg != NULL ? arg : "", arg != NULL ? "\"" : "");
	return 2;
}

static unsigned
now_ms(const struct timespec *start)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (unsigned)((t.tv_sec - start->tv_sec) * 1000 +
	    (t.tv_nsec - start->tv_nsec) / 1000000);
}

/* No NUL or other control characters (json_stringn() checks the UTF-8 itself). */
static int
is_text(const uint8_t *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (v[i] < 0x20 || v[i] == 0x7f)
			return 0;
	return 1;
}

static json_t *
txt_value_json(const uint8_t *v, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	json_t *j;
	char *s;
	size_t i;

	if (v == NULL)
		return json_true();
	if (is_text(v, len) && (j = json_stringn((const char *)v, len)) != NULL)
		return j;
	if ((s = malloc(4 + 2 * len + 1)) == NULL)
		return NULL;
	memcpy(s, "hex:", 4);
	for (i = 0; i < len; i++) {
		s[4 + 2 * i] = hex[v[i] >> 4];
		s[4 + 2 * i + 1] = hex[v[i] & 0xf];
	}
	s[4 + 2 * len] = '\0';
	j = json_string(s);
	free(s);
	return j;
}

static json_t *
result_json(const struct mdns_result *r)
{
	json_t *o, *t, *v;
	const char *key;
	const uint8_t *val;
	size_t i, vlen;

	if ((t = json_object()) == NULL)
		return NULL;
	for (i = 0; txt_get_at(r->txt, i, &key, &val, &vlen); i++) {
		if ((v = txt_value_json(val, vlen)) == NULL || json_object_set_new(t, key, v)) {
			json_decref(t);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:b, s:I, s:o, s:s}",
	    "type", r->type,
	    "name", r->name,
	    "domain", r->domain,
	    "host", r->host,
	    "address", r->address,
	    "family", r->family == AF_INET ? "IPv4" : "IPv6",
	    "port", (json_int_t)r->port,
	    "interface", r->ifname,
	    "ifindex", (json_int_t)r->ifindex,
	    "pri", (json_int_t)r->pri,
	    "local", r->local,
	    "elapsed_ms", (json_int_t)r->elapsed_ms,
	    "txt", t,
	    "url", r->url);
	return o;	/* json_pack took t, also on failure */
}

static int
print_json(const struct mdns_result *r, size_t n, unsigned total)
{
	json_t *top, *arr, *o;
	unsigned first = 0;
	size_t i;
	int rc = -1;

	if ((arr = json_array()) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((o = result_json(&r[i])) == NULL || json_array_append_new(arr, o)) {
			json_decref(arr);
			return -1;
		}
		if (i == 0 || r[i].elapsed_ms < first)
			first = r[i].elapsed_ms;
	}
	top = json_pack("{s:o, s:I, s:o}", "elapsed_ms",
	    n > 0 ? json_integer(first) : json_null(), "total_ms", (json_int_t)total,
	    "candidates", arr);
	if (top == NULL)
		return -1;
	if (json_dumpf(top, stdout, JSON_COMPACT) == 0 && fputc('\n', stdout) != EOF)
		rc = 0;
	json_decref(top);
	return rc;
}

/* A TXT value for a human line: printable ASCII as is, the rest as \xNN. */
static void
print_value(const uint8_t *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (v[i] > 0x20 && v[i] < 0x7f && v[i] != '\\')
			putchar(v[i]);
		else
			printf("\\x%02x", v[i]);
	}
}

static void
print_human(const struct mdns_result *r, size_t n)
{
	const char *key;
	const uint8_t *val;
	size_t i, k, vlen;

	for (i = 0; i < n; i++) {
		printf("%s \"%s\" %s %u if %s %s host %s pri %u url %s txt", r[i].type, r[i].name,
		    r[i].address, r[i].port, r[i].ifname[0] ? r[i].ifname : "?",
		    r[i].family == AF_INET ? "IPv4" : "IPv6", r[i].host, r[i].pri, r[i].url);
		for (k = 0; txt_get_at(r[i].txt, k, &key, &val, &vlen); k++) {
			printf(" %s", key);
			if (val != NULL) {
				putchar('=');
				print_value(val, vlen);
			}
		}
		putchar('\n');
	}
}

int
cmd_discover(int argc, char **argv)
{
	static const char *const defaults[] = { MDNS_TYPE_REGISTRAR, MDNS_TYPE_PROXY,
	    MDNS_TYPE_POSTURE, MDNS_TYPE_UPDATE };
	const char *types[MDNS_BROWSE_MAX_TYPES];
	const char *const *use = defaults;
	const char *wait_name = NULL;
	struct mdns_result *res = NULL;
	struct timespec start;
	size_t ntypes = 0, nuse = sizeof(defaults) / sizeof(defaults[0]), n = 0;
	unsigned long timeout = MDNS_BROWSE_TIMEOUT_DEFAULT;
	char err[512], *end;
	int ch, json = 0, all = 0, rc;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":h", discover_opts, NULL)) != -1) {
		switch (ch) {
		case OPT_TIMEOUT:
			errno = 0;
			timeout = strtoul(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
			    timeout < 1 || timeout > DISCOVER_TIMEOUT_MAX)
				return discover_usage("--timeout wants milliseconds, 1 to 600000, "
				    "not", optarg);
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_TYPE:
			if (ntypes == MDNS_BROWSE_MAX_TYPES)
				return discover_usage("too many --type options", NULL);
			if (strlen(optarg) < 6 || strlen(optarg) > 63 || optarg[0] != '_' ||
			    (strcmp(optarg + strlen(optarg) - 5, "._tcp") != 0 &&
			    strcmp(optarg + strlen(optarg) - 5, "._udp") != 0))
				return discover_usage("--type wants a service type like "
				    "_brski-registrar._tcp, not", optarg);
			types[ntypes++] = optarg;
			break;
		case OPT_WAIT_REMOVED:
			wait_name = optarg;
			break;
		case 'h':
			fputs(discover_help, stdout);
			return 0;
		case ':':
			return discover_usage("option needs an argument:", argv[optind - 1]);
		default:
			return discover_usage("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return discover_usage("unexpected argument", argv[optind]);
	if (ntypes > 0) {
		use = types;
		nuse = ntypes;
	}

	if (wait_name != NULL) {
		if (all || json)
			return discover_usage("--wait-removed takes no --all or --json", NULL);
		if (ntypes > 1)
			return discover_usage("--wait-removed watches one --type", NULL);
		rc = mdns_browse_wait_removed(ntypes ? types[0] : MDNS_TYPE_REGISTRAR, wait_name,
		    (unsigned)timeout, err, sizeof(err));
		if (rc == -1) {
			fprintf(stderr, "latchkey: discover: %s\n", err);
			return 1;
		}
		if (rc == 1) {
			fprintf(stderr, "latchkey: discover: \"%s\" is still announced after "
			    "%lu ms\n", wait_name, timeout);
			return 1;
		}
		if (rc == 2)
			fprintf(stderr, "latchkey: discover: \"%s\" is not announced\n",
			    wait_name);
		else
			fprintf(stderr, "latchkey: discover: \"%s\" was removed\n", wait_name);
		return 0;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	if (mdns_browse_run(use, nuse, (unsigned)timeout, all ? MDNS_BROWSE_ALL : 0, &res, &n,
	    err, sizeof(err)) == -1) {
		fprintf(stderr, "latchkey: discover: %s\n", err);
		return 1;
	}
	if (json) {
		if (print_json(res, n, now_ms(&start)) == -1) {
			fprintf(stderr, "latchkey: discover: writing JSON failed\n");
			mdns_results_free(res, n);
			return 1;
		}
	} else
		print_human(res, n);
	mdns_results_free(res, n);
	if (fflush(stdout) == EOF) {
		fprintf(stderr, "latchkey: discover: writing to stdout failed\n");
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "latchkey: discover: no usable server found within %lu ms\n",
		    timeout);
		return 1;
	}
	return 0;
}
