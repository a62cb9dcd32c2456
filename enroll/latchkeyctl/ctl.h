/*
 * ctl: what latchkeyctl's commands share. latchkeyctl.c holds main() and the command
 * table; each cmd_*.c holds one group of commands. A command is
 *
 *	int cmd_NAME(struct ctl *ctl, int argc, char **argv);
 *
 * with argv[0] the command's name. It returns the exit status: 0 success, 1 failure,
 * CTL_EXIT_USAGE (2) usage error. Errors are one line on stderr, prefixed "latchkeyctl: "
 * (ctl_warnx, ctl_usage); data goes to stdout, as text or (ctl->json) one JSON object
 * (ctl_json_print).
 */
#ifndef LATCHKEY_CTL_H
#define LATCHKEY_CTL_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CTL_DEFAULT_DB		"/var/lib/latchkey/registry.db"
#define CTL_DEFAULT_MASA_DB	"/var/lib/latchkey/masa.db"
#define CTL_DEFAULT_LISTEN	"127.0.0.1:8443"

#define CTL_EXIT_USAGE		2

struct registry;
struct registry_audit_entry;

/* The global options, and the help text of the command being run (set by main). */
struct ctl {
	const char	*db;
	int		 json;
	int		 verbose;
	const char	*help;
};

/* The commands (latchkeyctl.c's table). */
int	cmd_labpki(struct ctl *, int, char **);		/* cmd_pki.c */
int	cmd_init(struct ctl *, int, char **);
int	cmd_ca_rollover(struct ctl *, int, char **);
int	cmd_claim(struct ctl *, int, char **);		/* cmd_devices.c */
int	cmd_unclaim(struct ctl *, int, char **);
int	cmd_list(struct ctl *, int, char **);
int	cmd_show(struct ctl *, int, char **);
int	cmd_revoke(struct ctl *, int, char **);		/* cmd_revoke.c */
int	cmd_readmit(struct ctl *, int, char **);
int	cmd_audit(struct ctl *, int, char **);
int	cmd_pending(struct ctl *, int, char **);	/* cmd_pending.c */
int	cmd_approve(struct ctl *, int, char **);
int	cmd_deny(struct ctl *, int, char **);
int	cmd_masa(struct ctl *, int, char **);		/* cmd_masa.c */
int	cmd_crl(struct ctl *, int, char **);		/* cmd_crl.c */
int	cmd_backup(struct ctl *, int, char **);	/* cmd_backup.c */
int	cmd_posture(struct ctl *, int, char **);	/* cmd_posture.c */
int	cmd_update_signer(struct ctl *, int, char **);	/* cmd_update.c */
int	cmd_update_sign(struct ctl *, int, char **);

/*
 * A manufacturer as --manufacturer names it (cmd_devices.c): "sha256:HEX", or a PEM file
 * whose root (self-signed) certificate, or only certificate, is the anchor IDevIDs chain
 * to. Its fingerprint ("sha256:" and 64 lower-case hex digits) into out (PKI_FP_LEN
 * bytes). 0, or -1 after printing the error.
 */
int	ctl_manufacturer(const char *arg, char *out);

/* Messages: "latchkeyctl: " + one line on stderr. ctl_usage returns CTL_EXIT_USAGE. */
void	ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int	ctl_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the running command's help text (ctl->help) on stdout; returns 0. */
int	ctl_help(const struct ctl *ctl);

/* $name when set and not empty, else dflt. */
const char *ctl_getenv(const char *name, const char *dflt);

/*
 * Options every command takes, for its struct option table: --db, --json, -v/--verbose,
 * -h/--help. ctl_getopt handles the first three itself and returns 'h'.
 */
#define CTL_COMMON_LONGOPTS \
	{ "db", required_argument, NULL, 'D' }, \
	{ "json", no_argument, NULL, 'j' }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

/*
 * Reset getopt before parsing a subcommand's argv. glibc keeps the first call's ordering
 * mode ('+' for the global options) unless optind is 0, which re-initialises it; the
 * subcommands need permutation so that "revoke SERIAL --reason R" works.
 */
void	ctl_getopt_reset(void);
/*
 * getopt_long over a subcommand's argv (argv[0] is the command) with shortopts plus "vh".
 * Returns the option character, -1 at the end, or '?' after printing a usage error.
 */
int	ctl_getopt(struct ctl *ctl, int argc, char **argv, const char *shortopts,
	    const struct option *longopts);

/* The registry ctl->db (registry_open flags); NULL after printing the error. */
struct registry *ctl_open(struct ctl *ctl, int flags);
/* name in the registry's folder ("DIR/name"; "./name" for a PostgreSQL registry); -1 when
 * it does not fit (out truncated). */
int	ctl_db_path(const char *db, const char *name, char *out, size_t outlen);
/* The actor recorded in audit logs: "admin:<login name>" or "admin:uid<N>". */
void	ctl_actor(char *buf, size_t len);

/* Text from the registry for a terminal: control characters become '?'; "-" for NULL/"". */
const char *ctl_safe(const char *s, char *buf, size_t len);
/* "YYYY-MM-DDTHH:MM:SSZ" (ISO 8601, UTC), or "-" for 0. Returns buf. */
const char *ctl_time(int64_t t, char *buf, size_t len);
/* Unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ into *out; -1 when bad. */
int	ctl_time_parse(const char *s, int64_t *out);
/* Absolute form of path (which exists: it was just written). Returns buf. */
const char *ctl_abs_path(const char *path, char *buf, size_t len);

/* A device serial as in an IDevID's subject serialNumber (PrintableString, < 64 bytes). */
int	ctl_serial_valid(const char *s);
/*
 * Serials from a file ("-" is stdin): one a line, '#' starts a comment, blank lines
 * skipped. Appends to *list (*n entries, each malloc'd; ctl_serials_free). 0, or -1 after
 * printing the error.
 */
int	ctl_serials_read(const char *path, char ***list, size_t *n);
void	ctl_serials_free(char **list, size_t n);

/*
 * JSON values: a string (NULL -> null; bytes that are not UTF-8 become '?'), the absolute
 * form of a path, a time as ctl_time (0 -> null). Never NULL.
 */
json_t	*ctl_jstr(const char *s);
json_t	*ctl_jpath(const char *path);
json_t	*ctl_jtime(int64_t t);
/*
 * Print j (indented) and a newline on stdout and drop the reference; NULL means out of
 * memory. 0, or 1 after printing the error.
 */
int	ctl_json_print(json_t *j);

/*
 * What `audit --verify` checks (cmd_revoke.c), in this order: the hash chain; every
 * checkpoint in the registry (its signature by the domain CA in ca_path, and that the chain
 * still holds its entry with its hash: truncation below it and rewrites before it show);
 * head ("SEQ:sha256:HEX" as `audit --head` prints it, or NULL), a head noted outside the
 * database; ckpt_file (or NULL), latchkeyd's exported checkpoint file (or a log extract:
 * lines without "audit checkpoint " are skipped), which shows a writer who also rewrote
 * the registry's checkpoints. 0 intact (entries, checkpoints: how many verified); 1 not,
 * with one line in why (bad_id: the first bad entry when the chain itself is broken); -1
 * with err when it could not check (a missing CA certificate, an unreadable file).
 */
#define CTL_PATH_MSG	200	/* bytes of a path quoted in a message */
struct ctl_audit_check {
	const char	*ca_path;
	const char	*head;
	const char	*ckpt_file;
	int64_t		 entries, checkpoints, bad_id;
	char		 why[640];
};
int	ctl_audit_check(struct registry *reg, struct ctl_audit_check *c, char *err,
	    size_t errlen);

/* One audit-log entry as JSON (with its hash if with_hash), or as one text line. */
json_t	*ctl_audit_json(const struct registry_audit_entry *a, int with_hash);
void	ctl_audit_print(const struct registry_audit_entry *a, int verbose, const char *indent);

#endif
