/* onboard_cmd: `latchkey onboard`, zero-touch onboarding (argument parsing and output; the
 * state machine is enroll/agent/onboard.c). */
#ifndef LATCHKEY_ONBOARD_CMD_H
#define LATCHKEY_ONBOARD_CMD_H

/* Exit status (also in --help): */
#define ONBOARD_EXIT_OK		0	/* bound (now or already), renewed, or renewal not due */
#define ONBOARD_EXIT_FAIL	1	/* an error no retry fixes (one line on stderr) */
#define ONBOARD_EXIT_USAGE	2
#define ONBOARD_EXIT_TIMEOUT	3	/* --timeout ran out; the state is kept, a rerun resumes */
#define ONBOARD_EXIT_BUSY	4	/* another latchkey onboard holds the state directory */

/* argv[0] is "onboard". */
int	onboard_cmd_main(int argc, char **argv);

#endif
