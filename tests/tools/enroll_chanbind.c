/*
 * enroll_chanbind: a test client, never shipped. It runs the device library's first
 * enrollment (agent_enroll(), enroll/agent/agent.h) with a CSR whose channel binding
 * (RFC 7030 §3.5) is missing or wrong, so integration tests can show that latchkeyd refuses
 * it on the agent's own code path. The shipped `latchkey` has no such switch.
 *
 *   enroll_chanbind none|bad --server URL --idevid CERT --idevid-key KEY --ca FILE --out DIR
 *
 * Exit status: 0 the registrar accepted (a failure for the caller's test), 1 refused or
 * failed (the reason on stderr), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "enroll/agent/agent.h"

static void
say(void *arg, int level, const char *line)
{
	(void)arg;
	if (level == AGENT_INFO)
		fprintf(stderr, "enroll_chanbind: %s\n", line);
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "server",	required_argument, NULL, 's' },
		{ "idevid",	required_argument, NULL, 'i' },
		{ "idevid-key",	required_argument, NULL, 'k' },
		{ "ca",		required_argument, NULL, 'c' },
		{ "out",	required_argument, NULL, 'o' },
		{ NULL,		0,		   NULL, 0 }
	};
	struct agent_opts o;
	struct agent_result r;
	char err[1024];
	int ch, rc;

	memset(&o, 0, sizeof(o));
	if (argc < 2 || (strcmp(argv[1], "none") != 0 && strcmp(argv[1], "bad") != 0)) {
		fprintf(stderr, "usage: enroll_chanbind none|bad --server URL --idevid CERT "
		    "--idevid-key KEY --ca FILE --out DIR\n");
		return 2;
	}
	o.chanbind = strcmp(argv[1], "none") == 0 ? AGENT_CB_NONE : AGENT_CB_BAD;
	optind = 2;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's': o.server = optarg; break;
		case 'i': o.idevid_cert = optarg; break;
		case 'k': o.idevid_key = optarg; break;
		case 'c': o.ca_file = optarg; break;
		case 'o': o.out_dir = optarg; break;
		default: return 2;
		}
	}
	if (o.server == NULL || o.idevid_cert == NULL || o.idevid_key == NULL ||
	    o.ca_file == NULL || o.out_dir == NULL) {
		fprintf(stderr, "enroll_chanbind: --server, --idevid, --idevid-key, --ca and "
		    "--out are required\n");
		return 2;
	}
	o.timeout = AGENT_TIMEOUT_DEFAULT;
	o.progress = say;
	if (agent_global_init() == -1)
		return 1;
	rc = agent_enroll(&o, &r, err, sizeof(err));
	agent_global_cleanup();
	if (rc == -1) {
		fprintf(stderr, "enroll_chanbind: %s\n", err);
		return 1;
	}
	fprintf(stderr, "enroll_chanbind: enrolled, LDevID serial %s\n", r.ldevid_serial);
	return 0;
}
