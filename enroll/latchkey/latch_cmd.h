/*
 * latch_cmd: the `latchkey latch` subcommand (argument parsing and output; the work is in
 * charon.c and latchmgr.c). argv[0] is "latch".
 */
#ifndef LATCHKEY_LATCH_CMD_H
#define LATCHKEY_LATCH_CMD_H

/* Exit status: 0 ok, 1 failure, 2 usage, 3 latch BROKEN, 4 latch CLOSED. */
#define LATCH_EXIT_BROKEN	3
#define LATCH_EXIT_CLOSED	4

int	latch_cmd_main(int argc, char **argv);

#endif
