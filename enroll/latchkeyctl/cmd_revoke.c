/*
 * cmd_revoke: revocation and the audit log. revoke ends a binding and its certificates
 * (latchkeyd puts them on the CRL); readmit lets a revoked device enroll again (nothing
 * else does); audit prints or verifies the hash-chained log and its signed checkpoints.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include <jansson.h>

#include "certs/crl.h"
#include "certs/pki.h"
#include "certs/signer.h"
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
	/*
	 * Any case ("KeyCompromise"); the registry, the audit log and the output keep the
	 * RFC 5280 §5.3.1 spelling ("keyCompromise"), which latchkeyd reads back.
	 */
	if ((code = crl_reason_from_name(reason)) == -1)
		return ctl_usage("revoke: unknown reason '%.64s'; valid reasons: %s", reason,
		    reason_names(valid, sizeof(valid)));
	reason = crl_reason_name(code);
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

#define AUDIT_ACTIONS_MAX	32	/* --action options */

struct audit_ctx {
	struct ctl	*ctl;
	json_t		*arr;
	int64_t		 n;
	const char	*actions[AUDIT_ACTIONS_MAX];	/* --action, each a comma list */
	int		 nactions;			/* 0: every action */
};

/* Whether name is in one of the comma lists; every name when there is none. */
static int
audit_action_wanted(const struct audit_ctx *ac, const char *name)
{
	const char *p, *end;
	size_t len;
	int i;

	if (ac->nactions == 0)
		return 1;
	if (name == NULL)
		return 0;
	for (i = 0; i < ac->nactions; i++) {
		for (p = ac->actions[i]; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
			end = strchrnul(p, ',');
			len = (size_t)(end - p);
			if (len == strlen(name) && strncmp(p, name, len) == 0)
				return 1;
		}
	}
	return 0;
}

/* An --action argument: names separated by commas, none empty. */
static int
audit_action_valid(const char *arg)
{
	const char *p;

	if (*arg == '\0' || *arg == ',' || arg[strlen(arg) - 1] == ',')
		return 0;
	for (p = arg; *p != '\0'; p++)
		if ((*p == ',' && p[1] == ',') || (unsigned char)*p <= ' ')
			return 0;
	return 1;
}

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

	if (!audit_action_wanted(ac, a->action))
		return 0;
	if (ac->ctl->json)
		json_array_append_new(ac->arr, ctl_audit_json(a, 1));
	else
		ctl_audit_print(a, ac->ctl->verbose, "");
	ac->n++;
	return 0;
}

/* The state of one ctl_audit_check(). */
struct audit_verify {
	struct registry		*reg;
	struct ctl_audit_check	*c;
	X509			*ca;
	X509			*prev;		/* the CA before a ca-rollover, if any */
	char			*err;
	size_t			 errlen;
};

/* 64 hex digits (either case) to lower case; -1 when not that. */
static int
hash_norm(const char *in, char out[REGISTRY_HASH_HEX])
{
	int i;

	for (i = 0; i < 64; i++) {
		if (pki_hexval(in[i]) < 0)
			return -1;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[64] = '\0';
	return in[64] == '\0' ? 0 : -1;
}

/*
 * One signed checkpoint (where names it in messages): its signature against the domain
 * CA, then whether the chain still holds its (seq, head). 0, 1 (c->why), -1 (err).
 */
static int
audit_verify_one(struct audit_verify *v, const struct signer_checkpoint *cp,
    const unsigned char *sig, size_t siglen, const char *where)
{
	char head[REGISTRY_HASH_HEX], why[384], when[32], e[256];
	int r;

	if (v->ca == NULL) {
		char prev[PATH_MAX];
		const char *slash = strrchr(v->c->ca_path, '/');

		if ((v->ca = pki_cert_read(v->c->ca_path, e, sizeof(e))) == NULL) {
			snprintf(v->err, v->errlen, "cannot check checkpoint signatures: %s", e);
			return -1;
		}
		/* checkpoints signed before a ca-rollover: the previous CA beside it */
		snprintf(prev, sizeof(prev), "%.*sdomain-ca-previous.pem",
		    slash != NULL ? (int)(slash - v->c->ca_path + 1) : 0, v->c->ca_path);
		if (access(prev, F_OK) == 0 &&
		    (v->prev = pki_cert_read(prev, e, sizeof(e))) == NULL) {
			snprintf(v->err, v->errlen, "cannot check checkpoint signatures: %s", e);
			return -1;
		}
	}
	ctl_time(cp->at, when, sizeof(when));
	if (signer_checkpoint_verify(v->ca, cp, sig, siglen, e, sizeof(e)) == -1 &&
	    (v->prev == NULL || signer_checkpoint_verify(v->prev, cp, sig, siglen, why,
	    sizeof(why)) == -1)) {
		snprintf(v->c->why, sizeof(v->c->why), "%s of entry %" PRId64 " (%s): forged "
		    "or damaged: %s", where, cp->seq, when, e);
		return 1;
	}
	pki_hex_encode(cp->head, 32, head);
	if ((r = registry_audit_holds(v->reg, cp->seq, head, why, sizeof(why), v->err,
	    v->errlen)) == 1)
		snprintf(v->c->why, sizeof(v->c->why), "%s (%s, signed %s)", why, where, when);
	if (r == 0)
		v->c->checkpoints++;
	return r;
}

static int
audit_verify_row(const struct registry_checkpoint *rc, void *arg)
{
	struct audit_verify *v = arg;
	struct signer_checkpoint cp;
	char where[64];
	int i, hi, lo;

	snprintf(where, sizeof(where), "registry checkpoint %" PRId64, rc->id);
	memset(&cp, 0, sizeof(cp));
	cp.seq = rc->seq;
	cp.at = rc->at;
	snprintf(cp.domain, sizeof(cp.domain), "%s", rc->domain);
	for (i = 0; i < 32; i++) {
		if ((hi = pki_hexval(rc->head[2 * i])) < 0 ||
		    (lo = pki_hexval(rc->head[2 * i + 1])) < 0) {
			snprintf(v->c->why, sizeof(v->c->why), "%s: malformed head hash", where);
			return 1;
		}
		cp.head[i] = (unsigned char)(hi << 4 | lo);
	}
	return audit_verify_one(v, &cp, rc->sig, rc->siglen, where);
}

/* Every checkpoint line of the exported file (other lines skipped: a syslog extract). */
static int
audit_verify_file(struct audit_verify *v)
{
	struct signer_checkpoint cp;
	unsigned char sig[SIGNER_CKPT_SIG_MAX];
	char line[SIGNER_CKPT_LINE_MAX + 2], where[CTL_PATH_MSG + 32];
	size_t siglen;
	int64_t n = 0, lineno = 0;
	FILE *fp;
	int r = 0;

	if ((fp = fopen(v->c->ckpt_file, "r")) == NULL) {
		snprintf(v->err, v->errlen, "%s: %s", v->c->ckpt_file, strerror(errno));
		return -1;
	}
	while (r == 0 && fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		snprintf(where, sizeof(where), "%.*s line %" PRId64, CTL_PATH_MSG,
		    v->c->ckpt_file, lineno);
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			snprintf(v->c->why, sizeof(v->c->why), "%s: line too long", where);
			r = 1;
		} else if (strstr(line, "audit checkpoint ") == NULL)
			continue;
		else if (signer_checkpoint_parse(line, &cp, sig, &siglen) == -1) {
			snprintf(v->c->why, sizeof(v->c->why), "%s: not a checkpoint line",
			    where);
			r = 1;
		} else {
			r = audit_verify_one(v, &cp, sig, siglen, where);
			n++;
		}
	}
	if (r == 0 && ferror(fp)) {
		snprintf(v->err, v->errlen, "%s: read error", v->c->ckpt_file);
		r = -1;
	}
	fclose(fp);
	if (r == 0 && n == 0) {
		snprintf(v->c->why, sizeof(v->c->why), "%.*s holds no checkpoint", CTL_PATH_MSG,
		    v->c->ckpt_file);
		r = 1;
	}
	return r;
}

int
ctl_audit_check(struct registry *reg, struct ctl_audit_check *c, char *err, size_t errlen)
{
	struct audit_verify v = { .reg = reg, .c = c, .err = err, .errlen = errlen };
	struct audit_ctx ac;
	char hash[REGISTRY_HASH_HEX], why[384];
	const char *colon, *h;
	char *end;
	long long seq;
	int r;

	c->entries = c->checkpoints = c->bad_id = 0;
	c->why[0] = '\0';
	if ((r = registry_audit_verify(reg, &c->bad_id, err, errlen)) != 0) {
		if (r == 1)
			snprintf(c->why, sizeof(c->why), "audit log broken at entry %" PRId64,
			    c->bad_id);
		return r;
	}
	memset(&ac, 0, sizeof(ac));
	if (registry_audit_foreach(reg, 0, audit_count_cb, &ac, err, errlen) != 0)
		return -1;
	c->entries = ac.n;
	/* The registry's checkpoints: truncation below the last, rewrites before it. */
	r = registry_checkpoint_foreach(reg, audit_verify_row, &v, err, errlen);
	/* A head from outside the database: an admin's note. */
	if (r == 0 && c->head != NULL) {
		errno = 0;
		seq = strtoll(c->head, &end, 10);
		colon = end;
		h = *colon == ':' ? colon + 1 : NULL;
		if (h != NULL && strncasecmp(h, "sha256:", 7) == 0)
			h += 7;
		if (end == c->head || errno != 0 || seq < 0 || h == NULL ||
		    (seq == 0 ? strcmp(h, "none") != 0 : hash_norm(h, hash) == -1)) {
			snprintf(err, errlen, "--head '%.80s' is not SEQ:sha256:HEX", c->head);
			r = -1;
		} else if (seq > 0 && (r = registry_audit_holds(reg, seq, hash, why,
		    sizeof(why), err, errlen)) == 1)
			snprintf(c->why, sizeof(c->why), "%s (against the given head)", why);
	}
	/* The exported checkpoint file: even a writer who emptied the registry's table. */
	if (r == 0 && c->ckpt_file != NULL)
		r = audit_verify_file(&v);
	X509_free(v.ca);
	X509_free(v.prev);
	return r;
}

static int
audit_head(struct ctl *ctl, struct registry *reg)
{
	char hash[REGISTRY_HASH_HEX], err[512];
	int64_t seq;

	if (registry_audit_head(reg, &seq, hash, err, sizeof(err)) == -1) {
		ctl_warnx("audit: %s", err);
		return 1;
	}
	if (ctl->json)
		return ctl_json_print(json_pack("{s:I, s:o}", "seq", (json_int_t)seq, "head",
		    seq > 0 ? json_sprintf("sha256:%s", hash) : json_null()));
	if (seq == 0)
		printf("0:none\n");
	else
		printf("%" PRId64 ":sha256:%s\n", seq, hash);
	return 0;
}

int
cmd_audit(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "since", required_argument, NULL, 't' },
		{ "action", required_argument, NULL, 'a' },
		{ "verify", no_argument, NULL, 'V' },
		{ "head", optional_argument, NULL, 'H' },
		{ "checkpoints", required_argument, NULL, 'C' },
		{ "ca", required_argument, NULL, 'A' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry *reg = NULL;
	struct audit_ctx ac;
	struct ctl_audit_check chk;
	int64_t since = 0;
	char err[512], ca[4096];
	const char *ca_arg = NULL;
	int ch, verify = 0, head = 0, r, rc = 1;

	memset(&chk, 0, sizeof(chk));
	memset(&ac, 0, sizeof(ac));
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 't':
			if (ctl_time_parse(optarg, &since) == -1)
				return ctl_usage("audit: --since '%s' is not UNIXTIME or "
				    "YYYY-MM-DD", optarg);
			break;
		case 'a':
			if (!audit_action_valid(optarg))
				return ctl_usage("audit: --action '%.64s' is not NAME or "
				    "NAME,NAME,...", optarg);
			if (ac.nactions == AUDIT_ACTIONS_MAX)
				return ctl_usage("audit: at most %d --action options",
				    AUDIT_ACTIONS_MAX);
			ac.actions[ac.nactions++] = optarg;
			break;
		case 'V':
			verify = 1;
			break;
		case 'H':
			head = 1;
			chk.head = optarg;
			break;
		case 'C':
			chk.ckpt_file = optarg;
			break;
		case 'A':
			ca_arg = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	/* "--head SEQ:HASH" as well as "--head=SEQ:HASH" (audit takes no operand). */
	if (head && chk.head == NULL && verify && argc - optind == 1)
		chk.head = argv[optind++];
	if (optind < argc)
		return ctl_usage("audit: unexpected argument '%s'", argv[optind]);
	if (head && chk.head == NULL && (verify || chk.ckpt_file != NULL))
		return ctl_usage("audit: --verify --head needs SEQ:HASH (as 'audit --head' "
		    "prints it)");
	if (chk.head != NULL || chk.ckpt_file != NULL)
		verify = 1;
	if (ac.nactions > 0 && (head || verify))
		return ctl_usage("audit: --action lists entries; not with --head or --verify");
	if (ca_arg != NULL)
		snprintf(ca, sizeof(ca), "%s", ca_arg);
	else if (ctl_db_path(ctl->db, "domain-ca.pem", ca, sizeof(ca)) == -1)
		return ctl_usage("audit: registry path too long");
	chk.ca_path = ca;
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	ac.ctl = ctl;

	if (head && !verify) {
		rc = audit_head(ctl, reg);
		goto out;
	}
	if (verify) {
		if ((r = ctl_audit_check(reg, &chk, err, sizeof(err))) == -1) {
			ctl_warnx("audit: %s", err);
			goto out;
		}
		if (ctl->json) {
			if (r == 0)
				rc = ctl_json_print(json_pack("{s:b, s:I, s:I}", "intact", 1,
				    "entries", (json_int_t)chk.entries, "checkpoints",
				    (json_int_t)chk.checkpoints));
			else if (ctl_json_print(json_pack("{s:b, s:I, s:s}", "intact", 0,
			    "bad_id", (json_int_t)chk.bad_id, "reason", chk.why)) == 0)
				rc = 1;
		} else if (r == 0) {
			printf("audit log intact (%" PRId64 " entries, %" PRId64 " checkpoint%s "
			    "verified)\n", chk.entries, chk.checkpoints,
			    chk.checkpoints == 1 ? "" : "s");
			rc = 0;
		} else
			printf("%s\n", chk.why);
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
