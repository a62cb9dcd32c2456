/*
 * update: verified updates on the device (`latchkey update`, issue #20), callable without
 * the CLI. One run for one package:
 *
 *  1. the update server: opts->url, else the first update URL discovery stored in the
 *     state directory's onboard.json (DHCP vendor option or mDNS _latchkey-update._tcp);
 *     its base URL holds <package>/manifest.cms and the payloads (latchkeyd update-dir).
 *     TLS verified against the state directory's domain-ca.pem, the LDevID as client
 *     certificate (ldevid.pem, ldevid.key).
 *  2. the signed manifest (at most CODESIGN_CMS_MAX octets): one signer, valid signature
 *     (certs/codesign.h), the signer chains to domain-ca.pem, has EKU codeSigning and is
 *     not revoked on the domain CRL fetched from its CRL distribution point (a CRL cached
 *     by an earlier run is used only while it is current, else the signer's OCSP
 *     responder, RFC 6960; with neither: fail closed, UPDATE_ERROR), then the manifest
 *     itself (enroll/common/manifest.h): not-before <= now < expires (indefinite freeze),
 *     package = the one asked for (mix-and-match), the device class among its targets,
 *     version newer than the installed one (rollback; equal: nothing to do), not-before
 *     not older than the last accepted manifest's.
 *  3. the payload: fetched with a hard limit of the manifest's size (endless data) into a
 *     0600 file, its size and SHA-256 checked against the manifest (arbitrary installation).
 *  4. the install command: `/bin/sh -c CMD sh PAYLOAD` (the payload path as $1, and
 *     LATCHKEY_UPDATE_PACKAGE, LATCHKEY_UPDATE_VERSION, LATCHKEY_UPDATE_PAYLOAD in its
 *     environment); exit 0 means installed (the payload file is removed afterwards, as
 *     it is after any refusal). Only then the package's state
 *     (update/<package>.json: version, not-before, sha256, time; 0600, atomic) advances.
 *
 * Every decision is appended to update/audit.jsonl (JSON lines, 0600) and reported to the
 * server (POST .../update-report, manifest.h's report); a report that cannot be delivered
 * is noted in the local log, never changes the decision.
 *
 * Library rules: nothing here prints or exits; progress goes to the callback.
 */
#ifndef LATCHKEY_AGENT_UPDATE_H
#define LATCHKEY_AGENT_UPDATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "enroll/common/manifest.h"

#define UPDATE_SUBDIR		"update"
#define UPDATE_FILE_AUDIT	"audit.jsonl"
#define UPDATE_FILE_CRL		"crl.der"
#define UPDATE_TIMEOUT_DEFAULT	60	/* s, each fetch; and the install command's bound */
#define UPDATE_INSTALL_TIMEOUT	600

enum update_decision {
	UPDATE_INSTALLED = 0,	/* verified and installed */
	UPDATE_CURRENT,		/* verified, the same version is installed: nothing done */
	UPDATE_REFUSED,		/* refused: res->reason says why; nothing installed */
	UPDATE_ERROR		/* could not decide (network, files, install command failed) */
};

struct update_opts {
	const char	*state_dir;	/* required */
	const char	*url;		/* NULL: from onboard.json */
	const char	*package;	/* required */
	const char	*device_class;	/* required */
	const char	*install_cmd;	/* required */
	unsigned	 timeout_s;	/* 0: UPDATE_TIMEOUT_DEFAULT */
	int		 no_report;	/* do not POST the decision */
	time_t		 now;		/* 0: time(NULL) */
	void		(*progress)(void *arg, const char *line);
	void		*progress_arg;
};

struct update_result {
	enum update_decision	decision;
	char	url[1024];			/* the update server used */
	char	source[16];			/* "option", "onboard.json" */
	char	version[MANIFEST_VERSION_MAX + 1];	/* the manifest's, when read */
	char	installed[MANIFEST_VERSION_MAX + 1];	/* before this run; "" none */
	char	signer[256];			/* the signer's subject, when read */
	char	reason[MANIFEST_REASON_MAX + 1];	/* one line */
	int	reported;			/* 1 when the server took the report */
};

/* Run once (above). Returns res->decision; res->reason is set for every decision. */
enum update_decision update_run(const struct update_opts *o, struct update_result *res);
const char *update_decision_name(enum update_decision d);

#endif
