/* status_cmd: `latchkey status`, the device's view of its enrollment and binding. */
#ifndef LATCHKEY_STATUS_CMD_H
#define LATCHKEY_STATUS_CMD_H

/* argv[0] is "status". Exit status: 0 bound, 3 revoked, 1 error, 2 usage. */
int	status_cmd_main(int argc, char **argv);

#endif
