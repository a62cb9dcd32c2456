/*
 * latchkey: the device agent and lab CLI. This file is only the command table; each
 * command lives in its own file (commands.h).
 */
#include <stdio.h>
#include <string.h>

#include "enroll/latchkey/commands.h"

static const struct latchkey_cmd {
	const char	*name;
	int		(*run)(int argc, char **argv);
} latchkey_cmds[] = {
	{ "enroll",	cmd_enroll },
	{ "reenroll",	cmd_reenroll },
	{ "onboard",	cmd_onboard },
	{ "status",	cmd_status },
	{ "discover",	cmd_discover },
	{ "latch",	cmd_latch },
	{ "report",	cmd_report },
	{ "update",	cmd_update },
};

int
main(int argc, char *argv[])
{
	const char *cmd;
	size_t i;

	if (argc < 2) {
		fprintf(stderr, "latchkey: no command given (see latchkey --help)\n");
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		cmd_enroll_help(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0) {
		printf("latchkey %s\n", LATCHKEY_VERSION);
		return 0;
	}
	for (i = 0; i < sizeof(latchkey_cmds) / sizeof(latchkey_cmds[0]); i++)
		if (strcmp(cmd, latchkey_cmds[i].name) == 0)
			return latchkey_cmds[i].run(argc - 1, argv + 1);
	fprintf(stderr, "latchkey: unknown command \"%s\" (see latchkey --help)\n", cmd);
	return EXIT_USAGE;
}
