/*
 * report: the device's posture report (`latchkey report`, and once after onboarding),
 * callable without the CLI (issue #20). Collects the software inventory, builds the report
 * (enroll/common/posture.h) naming the device's serial and its LDevID's serial, signs it
 * with the LDevID key (CMS SignedData, the LDevID included) and POSTs it over mutual TLS
 * with that LDevID to the posture server, trusting only the domain CA the device holds.
 *
 * Posture server URL: the one given, else the first posture URI the last discovery of
 * `latchkey onboard` found (onboard.json in the state directory), else one discovery round
 * now (enroll/agent/discover.h): the DHCP env files' vendor option (125/17), and when DHCP
 * named nothing, mDNS _latchkey-posture._tcp. A URL with no path (or "/") means the
 * registrar's own endpoint REPORT_PATH_DEFAULT.
 *
 * The LDevID key comes through agent_key_load() (a file or a TPM key: open the TPM first
 * with agent_tpm_prepare(), as for any use of the LDevID).
 *
 * Library rules: nothing here prints or exits; -1 with one line in err.
 */
#ifndef LATCHKEY_REPORT_H
#define LATCHKEY_REPORT_H

#include <stddef.h>

#include "enroll/common/posture.h"

#define REPORT_PATH_DEFAULT	"/.well-known/latchkey/posture"
#define REPORT_DPKG_STATUS	"/var/lib/dpkg/status"
#define REPORT_URL_MAX		1024

struct report_opts {
	const char		*state_dir;	/* LDevID, key, domain CA, onboard.json */
	const char		*url;		/* NULL: onboard.json, else discovery */
	const char *const	*dhcp_env;	/* discovery: env files; none: dhcp_glob */
	size_t			 n_dhcp_env;
	const char		*dhcp_glob;	/* NULL: DISCOVER_DHCP_GLOB_DEFAULT */
	int			 no_discover;	/* never run a discovery round */
	int			 no_mdns;
	unsigned		 mdns_timeout_ms;	/* 0: default */
	const char		*dpkg_status;	/* NULL: REPORT_DPKG_STATUS (no command) */
	const char		*command;	/* inventory command (sh -c), instead of dpkg */
	const char *const	*hash_files;	/* files whose SHA-256 is reported */
	size_t			 n_hash_files;
	int			 timeout;	/* seconds; <= 0: agent default */
	void			(*progress)(void *arg, int level, const char *line);
	void			*progress_arg;
};

struct report_result {
	char	url[REPORT_URL_MAX];	/* where it went */
	char	source[16];		/* "given", "onboard", "dhcp" or "mdns" */
	long	status;			/* HTTP status, 0 when none */
	int	compliant;		/* the server's verdict (status 200) */
	char	*answer;		/* the server's answer (malloc'd, NUL-terminated) */
	size_t	npkgs, nfiles;
};

/*
 * The inventory: the command's output (posture_lines_parse) when o->command is set, else
 * the dpkg status file; then the SHA-256 of each hash file. 0 or -1 with err.
 */
int	report_collect(const struct report_opts *o, struct posture_inventory *inv, char *err,
	    size_t errlen);
/*
 * The posture URL to use (above) into url and how it was found into source (16 bytes).
 * 0, or -1 with err ("no posture server known ...").
 */
int	report_url(const struct report_opts *o, char *url, size_t urllen, char *source,
	    char *err, size_t errlen);
/*
 * Build, sign and send the report for inv. Returns 0 when the server judged it (res->status
 * 200; res->compliant is the verdict), -1 with err otherwise (res->status says the HTTP
 * status of a refusal, e.g. 403 for a revoked LDevID). Free res->answer after.
 */
int	report_send(const struct report_opts *o, const struct posture_inventory *inv,
	    struct report_result *res, char *err, size_t errlen);

#endif
