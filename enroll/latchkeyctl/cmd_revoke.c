/*
 * cmd_revoke: revocation and the audit log. revoke ends a binding and its certificates
 * (latchkeyd puts them on the CRL); readmit lets a revoked device enroll again (nothing
 * else does); audit prints or verifies the hash-chained log.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "certs/crl.h"
#include "certs/pki.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

/*
 * Reasons a revocation may not give (RFC 5280 §5.3.1): removeFromCRL belongs to delta CRLs
 * alone, and on a full CRL OpenSSL's check takes it as "not revoked"; certificateHold is
 * temporary, and nothing here ever lifts a hold (a revocation is final).
 */
static int
reason_refused(int code)
{
	return code == CRL_RC_REMOVE_FROM_CRL || code == CRL_RC_CERTIFICATE_HOLD;
}

/* The RFC 5280 §5.3.1 CRLReason names revoke takes (certs/crl.h), comma-separated. */
static const char *
reason_names(char *buf, size_t len)
{
	const char *name;
	int code;

	buf[0] = '\0';
	for (code = CRL_RC_UNSPECIFIED; code <= CRL_RC_AA_COMPROMISE; code++)
		if (!reason_refused(code) && (name = crl_reason_name(code)) != NULL)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] != '\0' ? ", " : "", name);
	return buf;
}

int
cmd_revoke(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	const char *reason = NULL, *serial;
	char actor[300], err[512], valid[512];
	int64_t bid = 0;
	int ch, r, code, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "r:", lo)) != -1) {
		switch (ch) {
		case 'r':
			reason = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage("revoke: exactly one SERIAL expected");
	serial = argv[optind];
	if (reason == NULL)
		return ctl_usage("revoke: --reason R is required");
	/* The registry keeps the name as given: only the exact RFC 5280 spelling. */
	if ((code = crl_reason_from_name(reason)) == -1 ||
	    strcmp(crl_reason_name(code), reason) != 0)
		return ctl_usage("revoke: unknown reason '%.64s'; valid reasons: %s", reason,
		    reason_names(valid, sizeof(valid)));
	if (code == CRL_RC_REMOVE_FROM_CRL)
		return ctl_usage("revoke: reason removeFromCRL is for delta CRLs only (RFC 5280 "
		    "5.3.1); valid reasons: %s", reason_names(valid, sizeof(valid)));
	if (code == CRL_RC_CERTIFICATE_HOLD)
		return ctl_usage("revoke: reason certificateHold is not offered: a revocation "
		    "here is final, nothing lifts a hold; valid reasons: %s",
		    reason_names(valid, sizeof(valid)));
	if ((reg = ctl_open(ctl, 0)) == NULL)
		return 1;
	ctl_actor(actor, sizeof(actor));
	r = registry_binding_revoke(reg, serial, reason, actor, &bid, err, sizeof(err));
	if (r == -1)
		ctl_warnx("revoke %s: %s", serial, err);
	else if (r == 1)
		ctl_warnx("revoke: serial %s has no active binding", serial);
	else if (ctl->json)
		rc = ctl_json_print(json_pack("{s:o, s:I, s:o, s:o}", "serial",
		    ctl_jstr(serial), "binding", (json_int_t)bid, "reason", ctl_jstr(reason),
		    "actor", ctl_jstr(actor)));
	else {
		printf("revoked %s (binding %" PRId64 ", reason %s)\n", serial, bid, reason);
		rc = 0;
	}
	registry_close(reg);
	return rc;
}

int
cmd_readmit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "manufacturer", required_argument, NULL, 'm' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	const char *reason = NULL, *maker = NULL, *serial;
	char actor[300], err[512], fp[PKI_FP_LEN];
	int ch, r, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "r:m:", lo)) != -1) {
		switch (ch) {
		case 'r':
			reason = optarg;
			break;
		case 'm':
			maker = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage("readmit: exactly one SERIAL expected");
	serial = argv[optind];
	if (!ctl_serial_valid(serial))
		return ctl_usage("readmit: invalid serial '%.64s'", serial);
	if (reason != NULL && (*reason == '\0' || strlen(reason) > 127))
		return ctl_usage("readmit: --reason must be 1 to 127 bytes");
	if (maker != NULL && ctl_manufacturer(maker, fp) == -1)
		return CTL_EXIT_USAGE;
	if ((reg = ctl_open(ctl, 0)) == NULL)
		return 1;
	ctl_actor(actor, sizeof(actor));
	r = registry_readmit(reg, serial, maker != NULL ? fp : NULL, reason, actor, err,
	    sizeof(err));
	if (r == -1)
		ctl_warnx("readmit %s: %s", serial, err);
	else if (r == 1)
		ctl_warnx("readmit: serial %s has no revoked binding to re-admit", serial);
	else if (ctl->json)
		rc = ctl_json_print(json_pack("{s:o, s:o, s:o, s:o}", "readmitted",
		    ctl_jstr(serial), "reason", ctl_jstr(reason), "manufacturer",
		    ctl_jstr(maker != NULL ? fp : NULL), "actor", ctl_jstr(actor)));
	else {
		printf("readmitted %s (claimed%s%s; it may enroll again)\n", serial,
		    maker != NULL ? " for manufacturer " : "", maker != NULL ? fp : "");
		rc = 0;
	}
	registry_close(reg);
	return rc;
}

struct audit_ctx {
	struct ctl	*ctl;
	json_t		*arr;
	int64_t		 n;
};

static int
audit_count_cb(const struct registry_audit_entry *a, void *arg)
{
	((struct audit_ctx *)arg)->n++;
	return 0;
}

static int
audit_list_cb(const struct registry_audit_entry *a, void *arg)
{
	struct audit_ctx *ac = arg;

	if (ac->ctl->json)
		json_array_append_new(ac->arr, ctl_audit_json(a, 1));
	else
		ctl_audit_print(a, ac->ctl->verbose, "");
	ac->n++;
	return 0;
}

int
cmd_audit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "since", required_argument, NULL, 't' },
		{ "verify", no_argument, NULL, 'V' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	struct audit_ctx ac;
	int64_t since = 0, bad = 0;
	char err[512];
	int ch, verify = 0, r, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 't':
			if (ctl_time_parse(optarg, &since) == -1)
				return ctl_usage("audit: --since '%s' is not UNIXTIME or "
				    "YYYY-MM-DD", optarg);
			break;
		case 'V':
			verify = 1;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("audit: unexpected argument '%s'", argv[optind]);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	memset(&ac, 0, sizeof(ac));
	ac.ctl = ctl;

	if (verify) {
		if ((r = registry_audit_verify(reg, &bad, err, sizeof(err))) == -1) {
			ctl_warnx("audit: %s", err);
			goto out;
		}
		if (r == 0 && registry_audit_foreach(reg, 0, audit_count_cb, &ac, err,
		    sizeof(err)) != 0) {
			ctl_warnx("audit: %s", err);
			goto out;
		}
		if (ctl->json) {
			if (r == 0)
				rc = ctl_json_print(json_pack("{s:b, s:I}", "intact", 1, "entries",
				    (json_int_t)ac.n));
			else if (ctl_json_print(json_pack("{s:b, s:I}", "intact", 0, "bad_id",
			    (json_int_t)bad)) == 0)
				rc = 1;
		} else if (r == 0) {
			printf("audit log intact (%" PRId64 " entries)\n", ac.n);
			rc = 0;
		} else
			printf("audit log broken at entry %" PRId64 "\n", bad);
		goto out;
	}

	if (ctl->json && (ac.arr = json_array()) == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (registry_audit_foreach(reg, since, audit_list_cb, &ac, err, sizeof(err)) != 0) {
		ctl_warnx("audit: %s", err);
		goto out;
	}
	if (ctl->json) {
		rc = ctl_json_print(json_pack("{s:o}", "entries", ac.arr));
		ac.arr = NULL;
	} else
		rc = 0;
out:
	json_decref(ac.arr);
	registry_close(reg);
	return rc;
}
