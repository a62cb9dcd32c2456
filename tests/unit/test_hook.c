/*
 * test_hook: enroll/agent/hook.c, the deploy hook of a renewal: the environment it gets
 * (table of inherited and replaced variables), its outcomes (table: exit 0, a failure, a
 * signal, the timeout, no command), what it sees (variables, stdin, where its stdout goes),
 * and that the timeout kills its whole process group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enroll/agent/agent.h"
#include "enroll/agent/hook.h"
#include "tests/unit/testutil.h"

static char tmpdir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_hook.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tu_rmtree(tmpdir);
}

static const struct hook_info info_full = {
	.dir = "/var/lib/latchkey",
	.cert = "/var/lib/latchkey/ldevid.pem",
	.key = "/var/lib/latchkey/ldevid.key",
	.ca = "/var/lib/latchkey/domain-ca.pem",
	.device_serial = "LK0001",
	.ldevid_serial = "0A1B",
	.old_ldevid_serial = "09FF",
	.not_after = "2030-01-01T00:00:00Z",
};

static int
env_has(char **env, const char *entry)
{
	size_t i;

	for (i = 0; env[i] != NULL; i++)
		if (strcmp(env[i], entry) == 0)
			return 1;
	return 0;
}

static size_t
env_count(char **env)
{
	size_t n = 0;

	while (env[n] != NULL)
		n++;
	return n;
}

struct env_case {
	const char	*name;
	const char	*base[6];	/* NULL-terminated */
	int		 empty_info;	/* every hook_info field NULL */
	const char	*want[4];	/* entries that must be there */
	const char	*absent[3];	/* entries that must not */
	size_t		 count;		/* entries in all */
};

static const struct env_case env_cases[] = {
	{ "no base: our eight", { NULL }, 0,
	    { "LATCHKEY_SERIAL=LK0001", "LATCHKEY_OLD_LDEVID_SERIAL=09FF",
	    "LATCHKEY_LDEVID_KEY=/var/lib/latchkey/ldevid.key", NULL }, { NULL }, 8 },
	{ "the caller's environment is inherited", { "PATH=/bin", "HOME=/root", NULL }, 0,
	    { "PATH=/bin", "HOME=/root", "LATCHKEY_NOT_AFTER=2030-01-01T00:00:00Z", NULL },
	    { NULL }, 10 },
	{ "inherited LATCHKEY_* of our names are replaced",
	    { "LATCHKEY_SERIAL=evil", "LATCHKEY_LDEVID_CERT=/tmp/x", "PATH=/bin", NULL }, 0,
	    { "LATCHKEY_SERIAL=LK0001", "LATCHKEY_LDEVID_CERT=/var/lib/latchkey/ldevid.pem",
	    "PATH=/bin", NULL }, { "LATCHKEY_SERIAL=evil", "LATCHKEY_LDEVID_CERT=/tmp/x",
	    NULL }, 9 },
	{ "other LATCHKEY_* and prefixes of ours stay",
	    { "LATCHKEY_SERIALX=1", "LATCHKEY_DHCP_DUID=0001", "LATCHKEY_CA", NULL }, 0,
	    { "LATCHKEY_SERIALX=1", "LATCHKEY_DHCP_DUID=0001", "LATCHKEY_CA",
	    "LATCHKEY_CA=/var/lib/latchkey/domain-ca.pem" }, { NULL }, 11 },
	{ "unknown values are empty", { NULL }, 1,
	    { "LATCHKEY_OLD_LDEVID_SERIAL=", "LATCHKEY_DIR=", "LATCHKEY_NOT_AFTER=", NULL },
	    { NULL }, 8 },
};

static void
test_env_table(void **state)
{
	struct hook_info none;
	const struct env_case *c;
	char **env;
	size_t i, k;

	(void)state;
	memset(&none, 0, sizeof(none));
	for (i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		c = &env_cases[i];
		if ((env = hook_env_new((char *const *)c->base, c->empty_info ? &none :
		    &info_full)) == NULL)
			fail_msg("%s: hook_env_new failed", c->name);
		for (k = 0; k < 4 && c->want[k] != NULL; k++)
			if (!env_has(env, c->want[k]))
				fail_msg("%s: \"%s\" missing", c->name, c->want[k]);
		for (k = 0; k < 3 && c->absent[k] != NULL; k++)
			if (env_has(env, c->absent[k]))
				fail_msg("%s: \"%s\" present", c->name, c->absent[k]);
		if (env_count(env) != c->count)
			fail_msg("%s: %zu entries, want %zu", c->name, env_count(env), c->count);
		hook_env_free(env);
	}
	hook_env_free(NULL);
	/* a NULL base is an empty one */
	assert_non_null(env = hook_env_new(NULL, &info_full));
	assert_int_equal(env_count(env), 8);
	hook_env_free(env);
}

struct run_case {
	const char		*name;
	const char		*cmd;
	unsigned		 timeout;
	int			 want_rc;
	enum hook_outcome	 outcome;
	int			 code;
	const char		*desc;
	double			 max_secs;
};

static const struct run_case run_cases[] = {
	{ "exit 0", "exit 0", 10, 0, HOOK_OK, 0, "exited 0", 5 },
	{ "a command that fails", "false", 10, 1, HOOK_EXIT, 1, "exited 1", 5 },
	{ "exit 3", "echo x >&2; exit 3", 10, 1, HOOK_EXIT, 3, "exited 3", 5 },
	{ "not found: the shell's 127", "/nonexistent/hook", 10, 1, HOOK_EXIT, 127,
	    "exited 127", 5 },
	{ "killed by a signal", "kill -KILL $$", 10, 1, HOOK_SIGNAL, 9, "killed by signal 9",
	    5 },
	{ "past the timeout: TERM", "sleep 30", 1, 1, HOOK_TIMEOUT, 0,
	    "timed out after 1 s (killed)", 5 },
	{ "past the timeout, TERM ignored: KILL", "trap '' TERM; sleep 30", 1, 1, HOOK_TIMEOUT,
	    0, "timed out after 1 s (killed)", 1 + HOOK_KILL_GRACE_MS / 1000 + 4 },
	{ "an empty command", "", 10, -1, HOOK_OK, 0, NULL, 1 },
};

static void
test_run_table(void **state)
{
	const struct run_case *c;
	struct hook_result res;
	char err[256], desc[64];
	size_t i;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(run_cases) / sizeof(run_cases[0]); i++) {
		c = &run_cases[i];
		err[0] = '\0';
		rc = hook_run(c->cmd, &info_full, c->timeout, &res, err, sizeof(err));
		if (rc != c->want_rc)
			fail_msg("%s: returned %d (%s), want %d", c->name, rc, err, c->want_rc);
		if (rc == -1) {
			if (err[0] == '\0')
				fail_msg("%s: -1 without a reason", c->name);
			continue;
		}
		if (res.outcome != c->outcome || res.code != c->code)
			fail_msg("%s: outcome %d code %d, want %d %d", c->name, res.outcome,
			    res.code, c->outcome, c->code);
		hook_describe(&res, c->timeout, desc, sizeof(desc));
		if (strcmp(desc, c->desc) != 0)
			fail_msg("%s: described \"%s\", want \"%s\"", c->name, desc, c->desc);
		if (res.secs > c->max_secs)
			fail_msg("%s: took %.1f s", c->name, res.secs);
	}
	/* a command too long is refused before anything runs */
	{
		char *big = malloc(HOOK_CMD_MAX + 1);

		assert_non_null(big);
		memset(big, 't', HOOK_CMD_MAX);
		big[HOOK_CMD_MAX] = '\0';
		assert_int_equal(hook_run(big, &info_full, 1, &res, err, sizeof(err)), -1);
		free(big);
	}
}

static char *
slurp(const char *path)
{
	static char buf[8192];
	ssize_t n;
	int fd;

	buf[0] = '\0';
	if ((fd = open(path, O_RDONLY)) == -1)
		return buf;
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* What the hook sees: its variables (replacing ours), stdin empty, stdout sent to stderr. */
static void
test_run_sees(void **state)
{
	struct hook_result res;
	char cmd[512], out[128], errf_[128], envf[128], err[256];
	int saved1, saved2, fd1, fd2;

	(void)state;
	snprintf(out, sizeof(out), "%s/stdout", tmpdir);
	snprintf(errf_, sizeof(errf_), "%s/stderr", tmpdir);
	snprintf(envf, sizeof(envf), "%s/env", tmpdir);
	snprintf(cmd, sizeof(cmd), "env | grep '^LATCHKEY_\\|^HOOKTEST' | sort >'%s'; "
	    "echo to-stdout; echo to-stderr >&2; if read x; then echo stdin-had-data >&2; "
	    "fi", envf);
	assert_int_equal(setenv("LATCHKEY_LDEVID_SERIAL", "stale", 1), 0);
	assert_int_equal(setenv("HOOKTEST", "inherited", 1), 0);
	fflush(stdout);
	fflush(stderr);
	saved1 = dup(1);
	saved2 = dup(2);
	assert_true(saved1 != -1 && saved2 != -1);
	assert_true((fd1 = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	assert_true((fd2 = open(errf_, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1);
	dup2(fd1, 1);
	dup2(fd2, 2);
	close(fd1);
	close(fd2);
	assert_int_equal(hook_run(cmd, &info_full, 10, &res, err, sizeof(err)), 0);
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	unsetenv("LATCHKEY_LDEVID_SERIAL");
	unsetenv("HOOKTEST");
	assert_string_equal(slurp(out), "");
	assert_non_null(strstr(slurp(errf_), "to-stdout\nto-stderr\n"));
	assert_null(strstr(slurp(errf_), "stdin-had-data"));
	assert_string_equal(slurp(envf),
	    "HOOKTEST=inherited\n"
	    "LATCHKEY_CA=/var/lib/latchkey/domain-ca.pem\n"
	    "LATCHKEY_DIR=/var/lib/latchkey\n"
	    "LATCHKEY_LDEVID_CERT=/var/lib/latchkey/ldevid.pem\n"
	    "LATCHKEY_LDEVID_KEY=/var/lib/latchkey/ldevid.key\n"
	    "LATCHKEY_LDEVID_SERIAL=0A1B\n"
	    "LATCHKEY_NOT_AFTER=2030-01-01T00:00:00Z\n"
	    "LATCHKEY_OLD_LDEVID_SERIAL=09FF\n"
	    "LATCHKEY_SERIAL=LK0001\n");
}

/* The timeout kills what the hook started in the background too (its process group). */
static void
test_timeout_kills_group(void **state)
{
	struct hook_result res;
	char cmd[256], pidf[128], err[256], stat_path[64], *s;
	long pid;
	int i, gone = 0;

	(void)state;
	snprintf(pidf, sizeof(pidf), "%s/bgpid", tmpdir);
	snprintf(cmd, sizeof(cmd), "sleep 60 & echo $! >'%s'; wait", pidf);
	assert_int_equal(hook_run(cmd, &info_full, 1, &res, err, sizeof(err)), 1);
	assert_int_equal(res.outcome, HOOK_TIMEOUT);
	s = slurp(pidf);
	assert_true((pid = strtol(s, NULL, 10)) > 1);
	/* gone, or a zombie waiting for its new parent */
	for (i = 0; i < 50 && !gone; i++) {
		snprintf(stat_path, sizeof(stat_path), "/proc/%ld/stat", pid);
		s = slurp(stat_path);
		gone = s[0] == '\0' || strstr(s, ") Z ") != NULL;
		if (!gone)
			usleep(100000);
	}
	if (!gone)
		fail_msg("the hook's background sleep %ld survived the timeout", pid);
}

/* The paths the hook gets: the directory made absolute, the three files in it. */
static void
test_paths(void **state)
{
	char adir[AGENT_PATH_MAX], cert[AGENT_PATH_MAX], key[AGENT_PATH_MAX];
	char ca[AGENT_PATH_MAX], cwd[AGENT_PATH_MAX], want[AGENT_PATH_MAX + 32], err[256];
	char *longdir;

	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	assert_int_equal(hook_paths(tmpdir + 5, adir, cert, key, ca, sizeof(adir), err,
	    sizeof(err)), 0);	/* "test_hook.XXXXXX", relative to /tmp */
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(adir, tmpdir);
	snprintf(want, sizeof(want), "%s/ldevid.pem", tmpdir);
	assert_string_equal(cert, want);
	snprintf(want, sizeof(want), "%s/ldevid.key", tmpdir);
	assert_string_equal(key, want);
	snprintf(want, sizeof(want), "%s/domain-ca.pem", tmpdir);
	assert_string_equal(ca, want);
	/* a directory that does not exist is used as given */
	assert_int_equal(hook_paths("no/such/dir", adir, cert, key, ca, sizeof(adir), err,
	    sizeof(err)), 0);
	assert_string_equal(cert, "no/such/dir/ldevid.pem");
	/* too long */
	assert_non_null(longdir = malloc(AGENT_PATH_MAX));
	memset(longdir, 'd', AGENT_PATH_MAX - 1);
	longdir[AGENT_PATH_MAX - 1] = '\0';
	assert_int_equal(hook_paths(longdir, adir, cert, key, ca, sizeof(adir), err,
	    sizeof(err)), -1);
	free(longdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_table),
		cmocka_unit_test(test_run_table),
		cmocka_unit_test_setup_teardown(test_run_sees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);	/* the hook gets the default back (hook.h) */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
