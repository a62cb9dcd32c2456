/*
 * posture: the device's posture report (its own account of what it runs, in the NEA
 * sense, RFC 5209) — the software inventory, its JSON codec, the dpkg status and command
 * output readers, the CMS wrapper, and the diff between two reports. Pure over bytes
 * except posture_file_hash(), which reads the file it names. Fuzzed in
 * tests/fuzz/fuzz_posture.c.
 *
 * Wire format (JSON, UTF-8, at most POSTURE_JSON_MAX octets; member names of CoSWID,
 * RFC 9393 §2.3 and §2.8, where CoSWID has one):
 *   {"report-version": 1,
 *    "serial": "<device serial>", "ldevid-serial": "<LDevID serial, upper-case hex>",
 *    "time": <seconds since the epoch>, "nonce": "<32 hex digits>",
 *    "software": [ {"tag-id": "dpkg:<name>:<arch>", "software-name": "<name>",
 *                   "software-version": "<version>", "version-scheme": "alphanumeric",
 *                   "architecture": "<arch>"} ... ],
 *    "file": [ {"fs-name": "<absolute path>", "hash": [1, "<sha-256 hex>"]} ... ]}
 * "architecture" is our extension (CoSWID's $$software-meta-extension); "hash" is a
 * CoSWID hash-entry [hash-alg-id, hash-value] (RFC 9393 §2.9.1) with hash-alg-id 1
 * (sha-256, IANA Named Information Hash Algorithm Registry) and the value in lower-case
 * hex, since JSON has no byte strings. Unknown members are ignored (a newer agent may say
 * more); known ones are checked: missing or mistyped members, bad characters, oversized
 * strings or lists and duplicate (name, architecture) pairs are errors.
 *
 * Signed form: CMS SignedData (RFC 5652 §5) over the JSON, encapsulated, eContentType
 * id-data, the signer's certificate included, DER; sent as Content-Type POSTURE_CT
 * (RFC 7193's generic CMS type: a posture report is not S/MIME, so not pkcs7-mime).
 *
 * Errors: functions returning int give 0 (or a count) and -1 with one line in err (errlen
 * bytes, may be NULL), safe to send to the peer. Nothing here logs or exits.
 */
#ifndef LATCHKEY_POSTURE_H
#define LATCHKEY_POSTURE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/types.h>
#include <openssl/x509.h>

#define POSTURE_CT		"application/cms"
#define POSTURE_JSON_MAX	(4 * 1024 * 1024)	/* report JSON, octets */
#define POSTURE_CMS_MAX		(POSTURE_JSON_MAX + 64 * 1024)
#define POSTURE_PKGS_MAX	20000		/* software entries in one report */
#define POSTURE_FILES_MAX	64		/* file entries in one report */
#define POSTURE_NAME_MAX	128		/* package name, octets + NUL */
#define POSTURE_VERSION_MAX	128
#define POSTURE_ARCH_MAX	32
#define POSTURE_PATH_MAX	1024
#define POSTURE_SERIAL_MAX	64
#define POSTURE_NONCE_HEX	32
#define POSTURE_HASH_ALG_SHA256	1		/* RFC 9393 §2.9.1, IANA named information */
#define POSTURE_INPUT_MAX	(16 * 1024 * 1024)	/* dpkg status / command output read */

struct posture_pkg {
	char	name[POSTURE_NAME_MAX];
	char	version[POSTURE_VERSION_MAX];
	char	arch[POSTURE_ARCH_MAX];		/* "" when the source does not say */
};

struct posture_file {
	char	path[POSTURE_PATH_MAX];
	char	sha256[65];			/* lower-case hex */
};

/* A software inventory: packages sorted by (name, arch), unique; files in the order added. */
struct posture_inventory {
	struct posture_pkg	*pkgs;
	size_t			 npkgs, cap;
	struct posture_file	 files[POSTURE_FILES_MAX];
	size_t			 nfiles;
};

struct posture_report {
	int			 version;	/* 1 */
	char			 serial[POSTURE_SERIAL_MAX];
	char			 ldevid_serial[POSTURE_SERIAL_MAX];
	int64_t			 time;
	char			 nonce[POSTURE_NONCE_HEX + 1];
	struct posture_inventory inv;
};

void	posture_inventory_init(struct posture_inventory *inv);
void	posture_inventory_free(struct posture_inventory *inv);	/* frees the list; reusable */
/*
 * Add a package after checking it: name 1..127 of [a-z0-9+.-] and [A-Z_] (dpkg's and
 * other package managers' names), version 1..127 printable without spaces, arch 0..31 of
 * [a-z0-9_-]. A second (name, arch) is an error. Keeps the list sorted. 0 or -1 with err.
 */
int	posture_pkg_add(struct posture_inventory *inv, const char *name, const char *version,
	    const char *arch, char *err, size_t errlen);
/* The package (name, arch) or, with arch NULL, the first of that name; NULL when none. */
const struct posture_pkg *posture_pkg_find(const struct posture_inventory *inv,
	    const char *name, const char *arch);
/* Add a file entry: absolute path (printable, no "..") and its SHA-256 in hex. */
int	posture_file_add(struct posture_inventory *inv, const char *path, const char *sha256,
	    char *err, size_t errlen);
/* Hash the file at path (SHA-256) and add it. -1 with err when it cannot be read. */
int	posture_file_hash(struct posture_inventory *inv, const char *path, char *err,
	    size_t errlen);

/*
 * Read a dpkg status file (deb-control(5) stanzas; text, len octets): every stanza whose
 * Status says installed (its third word: "install ok installed", "hold ok installed",
 * "deinstall ok installed" not yet removed) becomes a package (Package, Version,
 * Architecture); others (config-files, half-installed, unpacked, not-installed) are
 * skipped. Continuation lines are
 * ignored. Returns the number of packages added, -1 with err (a stanza without Package
 * or Version when installed, a bad name or version, too many packages).
 */
int	posture_dpkg_parse(const char *text, size_t len, struct posture_inventory *inv,
	    char *err, size_t errlen);
/*
 * Read the output of an inventory command: one package per line, "NAME VERSION [ARCH]"
 * separated by spaces or tabs (what `dpkg-query -W -f '${Package} ${Version}
 * ${Architecture}\n'` or `rpm -qa --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}\n'` print);
 * empty lines and lines starting with '#' are skipped. Returns the count, -1 with err
 * naming the line.
 */
int	posture_lines_parse(const char *text, size_t len, struct posture_inventory *inv,
	    char *err, size_t errlen);

/* The report's JSON (malloc'd, NUL-terminated, *len without the NUL). NULL with err. */
char	*posture_report_encode(const struct posture_report *r, size_t *len, char *err,
	    size_t errlen);
/* Parse a report (replaces *r; call posture_report_free after, also on failure). */
int	posture_report_parse(const char *json, size_t len, struct posture_report *r, char *err,
	    size_t errlen);
void	posture_report_free(struct posture_report *r);
/* The inventory as JSON (the "software" and "file" arrays of a report), new reference. */
json_t	*posture_inventory_json(const struct posture_inventory *inv);

/*
 * Sign content (len octets) as described above with key, cert and optional chain.
 * *der malloc'd. 0 or -1 with err.
 */
int	posture_sign(const unsigned char *content, size_t len, X509 *cert, EVP_PKEY *key,
	    STACK_OF(X509) *chain, unsigned char **der, size_t *derlen, char *err,
	    size_t errlen);
/*
 * Verify a signed report (DER, len octets): one signer, content encapsulated and of type
 * id-data, the signature valid, and the signer's certificate (carried in the CMS) equal to
 * expect (the LDevID that authenticated the TLS session; its chain was verified there).
 * *content malloc'd (NUL added, *clen without it). 0; -1 with err when the CMS is
 * malformed or not of that shape; -2 with err when the signature does not verify or the
 * signer is another certificate.
 */
int	posture_verify(const unsigned char *der, size_t len, X509 *expect,
	    unsigned char **content, size_t *clen, char *err, size_t errlen);

/*
 * What changed from old to new: {"added":[{name,version,architecture}],
 * "removed":[...], "changed":[{name,architecture,from,to}], "files":[{fs-name,from,to}]}
 * (a file's from/to is null when absent). New reference, NULL when out of memory.
 */
json_t	*posture_diff(const struct posture_inventory *old, const struct posture_inventory *new);

/* A 32-hex-digit random nonce into out. 0 or -1 when the RNG fails. */
int	posture_nonce(char out[POSTURE_NONCE_HEX + 1]);

#endif
