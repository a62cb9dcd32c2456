/* hook: the deploy hook of a renewal; see hook.h. */
#include "enroll/agent/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "enroll/agent/agent.h"
#include "enroll/common/err.h"

#define HOOK_NVARS	8

static const char *const hook_names[HOOK_NVARS] = {
	"LATCHKEY_DIR",
	"LATCHKEY_LDEVID_CERT",
	"LATCHKEY_LDEVID_KEY",
	"LATCHKEY_CA",
	"LATCHKEY_SERIAL",
	"LATCHKEY_LDEVID_SERIAL",
	"LATCHKEY_OLD_LDEVID_SERIAL",
	"LATCHKEY_NOT_AFTER",
};

/* Is the environment entry "NAME=value" one of ours? */
static int
hook_is_ours(const char *entry)
{
	size_t i, n;

	for (i = 0; i < HOOK_NVARS; i++) {
		n = strlen(hook_names[i]);
		if (strncmp(entry, hook_names[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	return 0;
}

void
hook_env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

char **
hook_env_new(char *const *base, const struct hook_info *info)
{
	const char *vals[HOOK_NVARS];
	char **env;
	size_t nbase = 0, n = 0, i;

	vals[0] = info->dir;
	vals[1] = info->cert;
	vals[2] = info->key;
	vals[3] = info->ca;
	vals[4] = info->device_serial;
	vals[5] = info->ldevid_serial;
	vals[6] = info->old_ldevid_serial;
	vals[7] = info->not_after;
	while (base != NULL && base[nbase] != NULL)
		nbase++;
	if ((env = calloc(nbase + HOOK_NVARS + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < nbase; i++) {
		if (hook_is_ours(base[i]))
			continue;
		if ((env[n++] = strdup(base[i])) == NULL)
			goto err;
	}
	for (i = 0; i < HOOK_NVARS; i++)
		if (asprintf(&env[n++], "%s=%s", hook_names[i], vals[i] != NULL ? vals[i] :
		    "") == -1) {
			env[n - 1] = NULL;
			goto err;
		}
	return env;
err:
	hook_env_free(env);
	return NULL;
}

static double
hook_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
hook_nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Wait for pid until the monotonic time until (0: for ever): 1 reaped (*status), 0 still
 * running at until, -1 waitpid failed.
 */
static int
hook_wait(pid_t pid, double until, int *status)
{
	long nap = 5;
	pid_t w;

	for (;;) {
		w = waitpid(pid, status, WNOHANG);
		if (w == pid)
			return 1;
		if (w == -1 && errno != EINTR)
			return -1;
		if (until > 0 && hook_now() >= until)
			return 0;
		hook_nap(nap);
		if (nap < 100)
			nap *= 2;
	}
}

int
hook_run(const char *cmd, const struct hook_info *info, unsigned timeout_s,
    struct hook_result *res, char *err, size_t errlen)
{
	extern char **environ;
	static const int sigdef[] = { SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD,
	    SIGALRM, SIGUSR1, SIGUSR2 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, defs;
	char **env = NULL;
	char *argv[4];
	double start;
	pid_t pid;
	size_t i;
	int status = 0, e, w, rc = -1, fa_ok = 0, at_ok = 0;

	memset(res, 0, sizeof(*res));
	if (cmd == NULL || *cmd == '\0')
		return errf(err, errlen, "empty deploy hook command");
	if (strlen(cmd) >= HOOK_CMD_MAX)
		return errf(err, errlen, "deploy hook command longer than %d bytes",
		    HOOK_CMD_MAX - 1);
	if (timeout_s == 0)
		timeout_s = HOOK_TIMEOUT_DEFAULT;
	if ((env = hook_env_new(environ, info)) == NULL)
		return errf(err, errlen, "out of memory");
	if (posix_spawn_file_actions_init(&fa) != 0 || (fa_ok = 1,
	    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0) ||
	    posix_spawn_file_actions_adddup2(&fa, 2, 1) != 0 ||
	    posix_spawnattr_init(&at) != 0) {
		errf(err, errlen, "deploy hook: out of memory");
		goto out;
	}
	at_ok = 1;
	/* Its own process group (killed as a whole at the timeout), default signals, none
	 * blocked: what a shell command expects whatever this process ignores or blocks. */
	sigemptyset(&none);
	sigemptyset(&defs);
	for (i = 0; i < sizeof(sigdef) / sizeof(sigdef[0]); i++)
		sigaddset(&defs, sigdef[i]);
	if (posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF) != 0 || posix_spawnattr_setpgroup(&at, 0) != 0 ||
	    posix_spawnattr_setsigmask(&at, &none) != 0 ||
	    posix_spawnattr_setsigdefault(&at, &defs) != 0) {
		errf(err, errlen, "deploy hook: cannot set up the process");
		goto out;
	}
	argv[0] = (char *)"sh";
	argv[1] = (char *)"-c";
	argv[2] = (char *)cmd;
	argv[3] = NULL;
	start = hook_now();
	if ((e = posix_spawn(&pid, HOOK_SHELL, &fa, &at, argv, env)) != 0) {
		errf(err, errlen, "deploy hook: cannot run %s: %s", HOOK_SHELL, strerror(e));
		goto out;
	}
	w = hook_wait(pid, start + timeout_s, &status);
	if (w == 0) {
		/* Out of time: the whole group, politely first. */
		(void)kill(-pid, SIGTERM);
		w = hook_wait(pid, hook_now() + HOOK_KILL_GRACE_MS / 1000.0, &status);
		if (w == 0) {
			(void)kill(-pid, SIGKILL);
			w = hook_wait(pid, 0, &status);
		}
		if (w == 1) {
			/* Whatever it left behind in its group goes too. */
			(void)kill(-pid, SIGKILL);
			res->outcome = HOOK_TIMEOUT;
			res->secs = hook_now() - start;
			rc = 1;
			goto out;
		}
	}
	if (w == -1) {
		errf(err, errlen, "deploy hook: waiting: %s", strerror(errno));
		goto out;
	}
	res->secs = hook_now() - start;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		res->outcome = HOOK_OK;
		rc = 0;
	} else if (WIFEXITED(status)) {
		res->outcome = HOOK_EXIT;
		res->code = WEXITSTATUS(status);
		rc = 1;
	} else {
		res->outcome = HOOK_SIGNAL;
		res->code = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		rc = 1;
	}
out:
	if (at_ok)
		posix_spawnattr_destroy(&at);
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	hook_env_free(env);
	return rc;
}

const char *
hook_describe(const struct hook_result *res, unsigned timeout_s, char *buf, size_t len)
{
	switch (res->outcome) {
	case HOOK_OK:
		snprintf(buf, len, "exited 0");
		break;
	case HOOK_EXIT:
		snprintf(buf, len, "exited %d", res->code);
		break;
	case HOOK_SIGNAL:
		snprintf(buf, len, "killed by signal %d", res->code);
		break;
	case HOOK_TIMEOUT:
		snprintf(buf, len, "timed out after %u s (killed)",
		    timeout_s ? timeout_s : HOOK_TIMEOUT_DEFAULT);
		break;
	}
	return buf;
}

int
hook_paths(const char *dir, char *adir, char *cert, char *key, char *ca, size_t pathmax,
    char *err, size_t errlen)
{
	char real[PATH_MAX];
	const char *d = dir;

	if (realpath(dir, real) != NULL)
		d = real;
	if ((size_t)snprintf(adir, pathmax, "%s", d) >= pathmax ||
	    (size_t)snprintf(cert, pathmax, "%s/%s", d, AGENT_FILE_CERT) >= pathmax ||
	    (size_t)snprintf(key, pathmax, "%s/%s", d, AGENT_FILE_KEY) >= pathmax ||
	    (size_t)snprintf(ca, pathmax, "%s/%s", d, AGENT_FILE_CA) >= pathmax)
		return errf(err, errlen, "%s: path too long", dir);
	return 0;
}

int
hook_run_renewed(const char *cmd, const char *dir, const struct agent_result *r,
    unsigned timeout_s, struct hook_result *res, char *err, size_t errlen)
{
	char adir[AGENT_PATH_MAX], cert[AGENT_PATH_MAX], key[AGENT_PATH_MAX];
	char ca[AGENT_PATH_MAX];
	struct hook_info info;

	memset(res, 0, sizeof(*res));
	if (hook_paths(dir, adir, cert, key, ca, sizeof(adir), err, errlen) == -1)
		return -1;
	memset(&info, 0, sizeof(info));
	info.dir = adir;
	info.cert = cert;
	info.key = key;
	info.ca = ca;
	info.device_serial = r->device_serial;
	info.ldevid_serial = r->ldevid_serial;
	info.old_ldevid_serial = r->old_ldevid_serial;
	info.not_after = r->not_after;
	return hook_run(cmd, &info, timeout_s, res, err, errlen);
}
