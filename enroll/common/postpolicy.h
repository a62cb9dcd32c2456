/*
 * postpolicy: the owner's posture policy and its evaluation of a device's inventory
 * (enroll/common/posture.h) to compliant or not, with the reasons. Pure; fuzzed in
 * tests/fuzz/fuzz_postpolicy.c.
 *
 * Policy file (JSON, at most POSTPOLICY_MAX octets; every member optional, no others):
 *   {"required":  [ "openssh-server", {"name": "openssl", "min-version": "3.0.11-1~deb12u1"} ],
 *    "forbidden": [ "telnetd", {"name": "openssl", "max-version": "1.1.1"} ],
 *    "files":     [ {"fs-name": "/etc/ssh/sshd_config", "sha256": "<64 hex digits>"} ]}
 * - required: the package must be installed (any architecture); with min-version, in a
 *   version >= it (Debian version order, deb-version(7)).
 * - forbidden: the package must not be installed; with max-version only versions <= it
 *   are forbidden (a known-bad range).
 * - files: the report must carry that file with that SHA-256.
 * A report is compliant when no rule fails. Each failed rule gives one reason, in the
 * order of the policy: "required package openssl missing", "package openssl 1.1.1n-0
 * older than the minimum 3.0.11-1", "forbidden package telnetd 0.17-44 installed",
 * "file /etc/x not reported", "file /etc/x hash differs".
 *
 * Errors: 0 / -1 with one line in err (errlen bytes, may be NULL). Nothing logs or exits.
 */
#ifndef LATCHKEY_POSTPOLICY_H
#define LATCHKEY_POSTPOLICY_H

#include <stddef.h>

#include <jansson.h>

#include "enroll/common/posture.h"

#define POSTPOLICY_MAX		(1024 * 1024)	/* policy file, octets */
#define POSTPOLICY_RULES_MAX	4096		/* rules of each kind */

struct postpolicy;

/* Parse a policy (text, len octets). NULL with err (naming the rule) when malformed. */
struct postpolicy *postpolicy_parse(const char *text, size_t len, char *err, size_t errlen);
/* Read and parse the file at path. NULL with err. */
struct postpolicy *postpolicy_load(const char *path, char *err, size_t errlen);
void	postpolicy_free(struct postpolicy *p);	/* NULL is fine */
/* Rules in p (all kinds), for logs. */
size_t	postpolicy_rules(const struct postpolicy *p);

/*
 * Evaluate inv against p: 1 compliant, 0 noncompliant, -1 out of memory. *reasons gets a
 * new JSON array of reason strings (empty when compliant).
 */
int	postpolicy_eval(const struct postpolicy *p, const struct posture_inventory *inv,
	    json_t **reasons);

/*
 * Compare two Debian versions ([epoch:]upstream[-revision], deb-version(7)): < 0, 0, > 0
 * as a sorts before, equal to or after b. A missing epoch is 0; a missing revision
 * compares as "". Digits compare numerically, the rest by dpkg's order, where '~' sorts
 * before everything, even the end of the string, and letters before non-letters.
 */
int	postpolicy_version_cmp(const char *a, const char *b);
/* 1 when v is a version postpolicy_version_cmp() takes (epoch digits, non-empty upstream
 * starting with a digit, characters of deb-version(7)), else 0. */
int	postpolicy_version_ok(const char *v);

#endif
