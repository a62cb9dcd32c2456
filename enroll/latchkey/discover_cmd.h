/*
 * discover_cmd: the `latchkey discover` subcommand (argument parsing and output over
 * mdns/browse.h). Lives in mdns/ so the agent's main only dispatches to it.
 */
#ifndef LATCHKEY_DISCOVER_CMD_H
#define LATCHKEY_DISCOVER_CMD_H

/*
 * argv[0] is "discover", the options follow. Prints candidates on stdout (one line each, or
 * one JSON object with --json), errors as one line on stderr. Returns the exit status:
 * 0 something usable found (--wait-removed: the instance is gone), 1 nothing found or an
 * error (--wait-removed: still there at the timeout), 2 usage error.
 */
int	cmd_discover(int argc, char **argv);

#endif
