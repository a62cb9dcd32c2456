/*
 * hook: the deploy hook of a renewal, callable without the CLI (`latchkey reenroll
 * --deploy-hook CMD`, `latchkey onboard --renew`), like certbot's --deploy-hook: one shell
 * command run once the new LDevID, its key and the domain CA are in place, so that the
 * services using them (a TLS server, `latchkey latch`, ...) can be reloaded.
 *
 * The command runs as `/bin/sh -c CMD` in a process group of its own, with stdin from
 * /dev/null and stdout joined to stderr (the caller's stdout may carry JSON), in the
 * caller's environment plus (replacing inherited variables of the same names):
 *   LATCHKEY_DIR                 the directory of the files (absolute when resolvable)
 *   LATCHKEY_LDEVID_CERT         DIR/ldevid.pem, the new LDevID (+ intermediates)
 *   LATCHKEY_LDEVID_KEY          DIR/ldevid.key, its key (0600)
 *   LATCHKEY_CA                  DIR/domain-ca.pem
 *   LATCHKEY_SERIAL              the device serial (subject serialNumber)
 *   LATCHKEY_LDEVID_SERIAL       the new LDevID's certificate serial, uppercase hex
 *   LATCHKEY_OLD_LDEVID_SERIAL   the serial of the LDevID it replaces ("" when unknown)
 *   LATCHKEY_NOT_AFTER           the new LDevID's notAfter, YYYY-MM-DDTHH:MM:SSZ
 * It may run for timeout_s seconds; then its process group gets SIGTERM and, HOOK_KILL_GRACE_MS
 * later, SIGKILL.
 *
 * Library rules: nothing here prints or exits; failures return -1 with one line in err.
 */
#ifndef LATCHKEY_HOOK_H
#define LATCHKEY_HOOK_H

#include <stddef.h>

#define HOOK_TIMEOUT_DEFAULT	300	/* seconds */
#define HOOK_TIMEOUT_MAX	86400
#define HOOK_KILL_GRACE_MS	5000	/* from SIGTERM to SIGKILL after the timeout */
#define HOOK_CMD_MAX		4096	/* bytes of a command, NUL included */
#define HOOK_SHELL		"/bin/sh"

/* What the hook is told; NULL fields are passed as "". */
struct hook_info {
	const char	*dir;
	const char	*cert;
	const char	*key;
	const char	*ca;
	const char	*device_serial;
	const char	*ldevid_serial;
	const char	*old_ldevid_serial;
	const char	*not_after;
};

enum hook_outcome {
	HOOK_OK = 0,		/* exited 0 */
	HOOK_EXIT,		/* exited with code != 0 */
	HOOK_SIGNAL,		/* killed by signal code (not by us) */
	HOOK_TIMEOUT		/* ran out of time and was killed */
};

struct hook_result {
	enum hook_outcome	outcome;
	int			code;	/* exit status (HOOK_EXIT) or signal (HOOK_SIGNAL) */
	double			secs;	/* how long it ran */
};

/*
 * The hook's environment: every entry of base (NULL-terminated, e.g. environ) whose name is
 * not one of the LATCHKEY_* variables above, then those variables from info. Returns a
 * NULL-terminated array the caller frees with hook_env_free(), or NULL when out of memory.
 * Pure.
 */
char	**hook_env_new(char *const *base, const struct hook_info *info);
void	  hook_env_free(char **env);	/* NULL safe */

/*
 * Run cmd (non-empty, shorter than HOOK_CMD_MAX) as described above and wait for it, at most
 * timeout_s seconds (0: HOOK_TIMEOUT_DEFAULT). Returns 0 when it exited 0, 1 when it failed
 * (res says how), -1 with err when it could not be started.
 */
int	hook_run(const char *cmd, const struct hook_info *info, unsigned timeout_s,
	    struct hook_result *res, char *err, size_t errlen);

/* res in a few words: "exited 0", "exited 3", "killed by signal 9", "timed out after 300 s
 * (killed)". Returns buf. */
const char *hook_describe(const struct hook_result *res, unsigned timeout_s, char *buf,
	    size_t len);

/*
 * The files of an enrollment directory dir as the hook sees them: dir resolved to an
 * absolute path when it can be (else as given) and dir/ldevid.pem, ldevid.key,
 * domain-ca.pem. Each buffer holds pathmax bytes. 0, or -1 with err (too long).
 */
int	hook_paths(const char *dir, char *adir, char *cert, char *key, char *ca, size_t pathmax,
	    char *err, size_t errlen);

/*
 * hook_run() for a renewal the agent just finished into dir (agent.h): the paths from
 * hook_paths(), the serials and notAfter from r. Same returns as hook_run().
 */
struct agent_result;
int	hook_run_renewed(const char *cmd, const char *dir, const struct agent_result *r,
	    unsigned timeout_s, struct hook_result *res, char *err, size_t errlen);

#endif
