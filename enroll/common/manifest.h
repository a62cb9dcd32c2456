/*
 * manifest: the signed update manifest (issue #20, verified updates), pure and shared by the
 * update server's tools and the device. The manifest is a JSON object, at most MANIFEST_MAX
 * octets, carried as the content of a CMS SignedData (RFC 5652) that an update-signing
 * certificate of the owner's domain signed (certs/codesign.h checks the signature):
 *
 *   {"manifest-version": 1, "package": "fw-core", "version": "1:2.0-3",
 *    "sha256": "<64 hex>", "size": 1234, "not-before": "2026-12-07T00:00:00Z",
 *    "expires": "2026-12-14T00:00:00Z", "targets": ["sensor", "gateway"],
 *    "url": "fw-core_2.0-3.bin"}
 *
 * Every member is required; duplicates are refused; a member this version does not know is
 * refused unless its name starts with "x-" (a non-critical extension, ignored). Times are
 * RFC 3339 (offsets allowed) or Unix seconds, from 1970 to 9999. package: 1..MANIFEST_NAME_MAX of [a-z0-9.+-],
 * starting with a letter or digit (Debian's package name rule). version: a Debian version
 * (deb-version(7): [epoch:]upstream[-revision]). size: 1..MANIFEST_PAYLOAD_MAX. targets:
 * 1..MANIFEST_TARGETS_MAX device classes of [A-Za-z0-9._-]. url: the payload's path relative
 * to the manifest, 1..MANIFEST_URL_DEPTH segments of [A-Za-z0-9._+-] that do not start with '.' (so no "."
 * or ".." segment), no leading '/': what latchkeyd's update-dir serves.
 * not-before must be before expires.
 *
 * Functions return 0 or -1 with one line in err (safe to show and to send).
 */
#ifndef LATCHKEY_MANIFEST_H
#define LATCHKEY_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define MANIFEST_MAX		16384
#define MANIFEST_NAME_MAX	64
#define MANIFEST_VERSION_MAX	128
#define MANIFEST_TARGETS_MAX	16
#define MANIFEST_CLASS_MAX	64
#define MANIFEST_URL_MAX	256
#define MANIFEST_URL_DEPTH	3	/* below <package>/: latchkeyd serves 4 deep */
#define MANIFEST_PAYLOAD_MAX	(1ull << 30)	/* 1 GiB */

struct manifest {
	char		package[MANIFEST_NAME_MAX + 1];
	char		version[MANIFEST_VERSION_MAX + 1];
	unsigned char	sha256[32];
	uint64_t	size;
	int64_t		not_before, expires;
	size_t		ntargets;
	char		targets[MANIFEST_TARGETS_MAX][MANIFEST_CLASS_MAX + 1];
	char		url[MANIFEST_URL_MAX + 1];
};

/* Parse and validate len octets of JSON into *m (rules above). */
int	manifest_parse(const char *json, size_t len, struct manifest *m, char *err,
	    size_t errlen);
/* The JSON text of m (malloc'd, NUL-terminated); NULL when out of memory. */
char	*manifest_json(const struct manifest *m);
/* Is s a valid package name (rules above)? 1/0 */
int	manifest_package_valid(const char *s);
/*
 * Is s a relative path of 1..max chars and 1..depth segments of [A-Za-z0-9._+-], none empty
 * and none starting with '.'? 1/0. A manifest's url (MANIFEST_URL_MAX, MANIFEST_URL_DEPTH),
 * and what latchkeyd's update-dir serves.
 */
int	manifest_path_ok(const char *s, size_t max, size_t depth);
/* Is s a valid Debian version (deb-version(7)) of at most MANIFEST_VERSION_MAX chars? 1/0 */
int	manifest_version_valid(const char *s);
/*
 * Compare two valid Debian versions as dpkg does (epoch numerically, then upstream and
 * revision by dpkg's verrevcmp: '~' sorts before everything, even the end; letters before
 * other characters; digit runs numerically). <0, 0, >0.
 */
int	manifest_version_cmp(const char *a, const char *b);
/* Does m target the device class cls? 1/0 */
int	manifest_targets(const struct manifest *m, const char *cls);

/*
 * The device's report of one update decision (POST /.well-known/latchkey/update-report,
 * Content-Type application/json, at most MANIFEST_REPORT_MAX octets):
 *   {"package": name or "", "version": version or "", "decision": "installed" | "refused" |
 *    "error", "reason": one line of at most MANIFEST_REASON_MAX characters}
 * Unknown members are refused; package and version may be "" (refused before the manifest
 * was read) and are otherwise checked as in a manifest.
 */
#define MANIFEST_REPORT_MAX	4096
#define MANIFEST_REASON_MAX	512
struct manifest_report {
	char	package[MANIFEST_NAME_MAX + 1];
	char	version[MANIFEST_VERSION_MAX + 1];
	char	decision[16];
	char	reason[MANIFEST_REASON_MAX + 1];
};
int	manifest_report_parse(const char *json, size_t len, struct manifest_report *r,
	    char *err, size_t errlen);
/* The JSON text of r (malloc'd); NULL when out of memory. */
char	*manifest_report_json(const struct manifest_report *r);

#endif
