/*
 * commands: the subcommands of `latchkey`, the device agent and lab CLI. Each takes argv
 * with argv[0] = its own name, parses its options, prints (progress and errors on stderr,
 * results on stdout), and returns the exit status: 0 success, 1 failure, 2 usage error,
 * and the command-specific codes below. The work itself is in the device library
 * (enroll/agent/), the latch driver (enroll/latch/) and mdns/.
 */
#ifndef LATCHKEY_COMMANDS_H
#define LATCHKEY_COMMANDS_H

#include <stdio.h>

#include "enroll/common/version.h"

#define EXIT_USAGE		2
/* reenroll and onboard --renew: renewed (the new LDevID is installed), but the deploy hook
 * failed, was killed or timed out (enroll/agent/hook.h). */
#define EXIT_HOOK_FAILED	5

/* enroll_cmd.c: first enrollment (IDevID) and renewal (LDevID). 3: the registrar still
 * holds the request for an administrator's approval (HTTP 202) when --wait ran out. */
#define ENROLL_EXIT_PENDING	3
int	cmd_enroll(int argc, char **argv);
int	cmd_reenroll(int argc, char **argv);
/* The full help of latchkey (commands, enroll and reenroll options, files, exit status). */
void	cmd_enroll_help(FILE *f);

/* status_cmd.c: the device's view of its enrollment and binding. 3: revoked. */
#define STATUS_EXIT_REVOKED	3
int	cmd_status(int argc, char **argv);

/* latch_cmd.c: IPsec latched to the registrar's identity (RFC 5660). */
#define LATCH_EXIT_BROKEN	3
#define LATCH_EXIT_CLOSED	4
int	cmd_latch(int argc, char **argv);

/*
 * discover_cmd.c: what the link offers over mDNS (a hint, never trusted by itself).
 * Prints candidates on stdout (one line each, or one JSON object with --json). 0 something
 * usable found (--wait-removed: the instance is gone), 1 nothing found or an error
 * (--wait-removed: still there at the timeout).
 */
int	cmd_discover(int argc, char **argv);

/* onboard_cmd.c: zero-touch onboarding (the state machine is enroll/agent/onboard.c). */
#define ONBOARD_EXIT_OK		0	/* bound (now or already), renewed, or renewal not due */
#define ONBOARD_EXIT_FAIL	1	/* an error no retry fixes (one line on stderr) */
#define ONBOARD_EXIT_USAGE	2
#define ONBOARD_EXIT_TIMEOUT	3	/* --timeout ran out; the state is kept, a rerun resumes */
#define ONBOARD_EXIT_BUSY	4	/* another latchkey onboard holds the state directory */
#define ONBOARD_EXIT_HOOK	EXIT_HOOK_FAILED	/* --renew: renewed, deploy hook failed */
int	cmd_onboard(int argc, char **argv);

/* report_cmd.c: the posture report (enroll/agent/report.h). */
#define REPORT_EXIT_NONCOMPLIANT	3	/* reported; the server judged it noncompliant */
#define REPORT_EXIT_REFUSED		4	/* the server refused it (4xx: revoked, ...) */
int	cmd_report(int argc, char **argv);
/* update_cmd.c: verified updates (enroll/agent/update.h). 3: refused, nothing installed. */
#define UPDATE_EXIT_REFUSED	3
int	cmd_update(int argc, char **argv);

#endif
