/*
 * update: the update-server role (issue #20, verified updates). With `update-dir = DIR`
 * latchkeyd serves, over its TLS port and only to a device holding an LDevID of an active
 * binding (mutual TLS, as /.well-known/latchkey/status):
 *
 *   GET  /.well-known/latchkey/update/<path>   a file under DIR: signed manifests
 *        (<package>/manifest.cms, application/cms) and payloads (application/octet-stream)
 *   POST /.well-known/latchkey/update-report   the device's decision (manifest.h's report),
 *        audited as "update-installed", "update-refused" or "update-error"
 *
 * The files are signed objects whose integrity does not rest on this server: the device
 * verifies each (certs/codesign.h, enroll/agent/update.h). The path is 1..UPDATE_DEPTH_MAX
 * segments of [A-Za-z0-9._+-] that do not start with '.', at most UPDATE_PATH_MAX
 * characters; only regular files (no symbolic link is followed) of at most UPDATE_FILE_MAX
 * octets are served.
 */
#ifndef LATCHKEY_UPDATE_H
#define LATCHKEY_UPDATE_H

#include <stddef.h>

#include "enroll/latchkeyd/est.h"

#define UPDATE_PREFIX		LK_PREFIX "/update/"
#define UPDATE_REPORT_PATH	LK_PREFIX "/update-report"
#define UPDATE_PATH_MAX		384	/* a package (64), "/", a manifest url (256) */
#define UPDATE_DEPTH_MAX	4
#define UPDATE_FILE_MAX		(64u << 20)

/* 1 when rest (the path after UPDATE_PREFIX) is a path we serve, 0 otherwise. */
int	update_path_valid(const char *rest);
/*
 * Read dir/rest into *buf (malloc'd) and *len. Returns the HTTP status: 200, 404 (bad path,
 * missing, not a regular file), 413 (too large) or 500; err says why when not 200.
 */
int	update_file_read(const char *dir, const char *rest, unsigned char **buf, size_t *len,
	    char *err, size_t errlen);
/* The Content-Type of a served file, by its name. */
const char *update_file_ctype(const char *rest);

#endif
