/*
 * cmd_devices: the devices the registry knows. claim and unclaim say which serials may
 * enroll; list shows bindings and pending claims; show one serial's bindings,
 * certificates, audit history and latch.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "certs/pki.h"
#include "enroll/latch/statefile.h"
#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

int
ctl_manufacturer(const char *arg, char *out)
{
	STACK_OF(X509) *certs;
	unsigned char raw[32];
	X509 *x, *pick = NULL;
	char err[512];
	int i, roots = 0;

	if (strncasecmp(arg, "sha256:", 7) == 0) {
		if (strlen(arg) != 7 + 64 || pki_fingerprint_parse(arg, raw) != 0) {
			ctl_warnx("--manufacturer %.80s: not sha256:<64 hex digits>", arg);
			return -1;
		}
		pki_fingerprint_format(raw, out);
		return 0;
	}
	if ((certs = pki_certs_read(arg, err, sizeof(err))) == NULL) {
		ctl_warnx("--manufacturer: %s", err);
		return -1;
	}
	/* The anchor an IDevID chains to is the self-signed root (latchkeyd's match). */
	for (i = 0; i < sk_X509_num(certs); i++) {
		x = sk_X509_value(certs, i);
		if (X509_check_issued(x, x) == X509_V_OK) {
			pick = x;
			roots++;
		}
	}
	if (roots != 1)
		pick = sk_X509_num(certs) == 1 ? sk_X509_value(certs, 0) : NULL;
	if (pick == NULL || pki_cert_fingerprint(pick, out) != 0) {
		ctl_warnx("--manufacturer %.200s: %d certificates and %d roots; name one with "
		    "sha256:HEX", arg, sk_X509_num(certs), roots);
		sk_X509_pop_free(certs, X509_free);
		return -1;
	}
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

/* claim / unclaim: one line per serial; failures are reported and make the exit 1. */
static int
claim_or_unclaim(struct ctl *ctl, int argc, char **argv, int unclaim)
{
	static const struct option lo[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "manufacturer", required_argument, NULL, 'm' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd = unclaim ? "unclaim" : "claim", *file = NULL, *maker = NULL;
	char **list = NULL, actor[300], err[512], fp[PKI_FP_LEN];
	struct registry *reg = NULL;
	json_t *j = NULL, *done = NULL, *noop = NULL;
	size_t n = 0, i;
	int ch, r, rc = 1, failed = 0;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, unclaim ? "" : "f:m:", lo)) != -1) {
		switch (ch) {
		case 'f':
			if (unclaim)
				return ctl_usage("unclaim: unknown option --file");
			file = optarg;
			break;
		case 'm':
			if (unclaim)
				return ctl_usage("unclaim: unknown option --manufacturer");
			maker = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	for (i = (size_t)optind; i < (size_t)argc; i++)
		if (!ctl_serial_valid(argv[i]))
			return ctl_usage("%s: invalid serial '%.64s'", cmd, argv[i]);
	if (file == NULL && optind >= argc)
		return ctl_usage("%s: no serial given", cmd);
	if (maker != NULL && ctl_manufacturer(maker, fp) == -1)
		return CTL_EXIT_USAGE;
	if (file != NULL && ctl_serials_read(file, &list, &n) == -1)
		goto out;
	if ((reg = ctl_open(ctl, 0)) == NULL)
		goto out;
	ctl_actor(actor, sizeof(actor));
	if (ctl->json && ((j = json_object()) == NULL || (done = json_array()) == NULL ||
	    (noop = json_array()) == NULL)) {
		ctl_warnx("out of memory");
		goto out;
	}

	for (i = 0; i < (size_t)(argc - optind) + n; i++) {
		const char *s = i < (size_t)(argc - optind) ? argv[optind + i] :
		    list[i - (size_t)(argc - optind)];

		r = unclaim ? registry_unclaim(reg, s, actor, err, sizeof(err)) :
		    registry_claim_for(reg, s, maker != NULL ? fp : NULL, actor, err,
		    sizeof(err));
		if (r == -1) {
			ctl_warnx("%s %s: %s", cmd, s, err);
			failed = 1;
			continue;
		}
		if (r == 2) {	/* revoked: only readmit lifts it */
			ctl_warnx("claim %s: %s; re-admit it with 'latchkeyctl readmit %s'", s,
			    err, s);
			failed = 1;
			continue;
		}
		if (ctl->json)
			json_array_append_new(r == 0 ? done : noop, ctl_jstr(s));
		else if (unclaim)
			printf("%s %s\n", r == 0 ? "unclaimed" : "not claimed", s);
		else
			printf("%s %s\n", r == 0 ? "claimed" : "already claimed", s);
	}
	if (ctl->json) {
		json_object_set_new(j, unclaim ? "unclaimed" : "claimed", done);
		json_object_set_new(j, unclaim ? "not_claimed" : "already_claimed", noop);
		done = noop = NULL;
		if (ctl_json_print(j) != 0)
			failed = 1;
		j = NULL;
	}
	rc = failed;
out:
	json_decref(j);
	json_decref(done);
	json_decref(noop);
	registry_close(reg);
	ctl_serials_free(list, n);
	return rc;
}

int
cmd_claim(struct ctl *ctl, int argc, char **argv)
{
	return claim_or_unclaim(ctl, argc, argv, 0);
}

int
cmd_unclaim(struct ctl *ctl, int argc, char **argv)
{
	return claim_or_unclaim(ctl, argc, argv, 1);
}

struct list_ctx {
	struct ctl	*ctl;
	struct registry	*reg;
	json_t		*arr;
	const char	*serial;
	int64_t		 since;
	int		 count;
	char		 err[512];
};

static json_t *
binding_json(const struct registry_binding *b, int ncerts)
{
	json_t *j;

	j = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:I, s:o}",
	    "id", (json_int_t)b->id,
	    "serial", ctl_jstr(b->serial),
	    "state", ctl_jstr(b->state),
	    "domain", ctl_jstr(b->domain),
	    "idevid_fp", b->idevid_fp[0] ? ctl_jstr(b->idevid_fp) : json_null(),
	    "authorized_by", ctl_jstr(b->authorized_by),
	    "created_at", (json_int_t)b->created_at,
	    "created", ctl_jtime(b->created_at));
	if (j == NULL)
		return NULL;
	json_object_set_new(j, "anchor_fp", b->anchor_fp[0] ? ctl_jstr(b->anchor_fp) :
	    json_null());
	if (b->revoked_at != 0) {
		json_object_set_new(j, "revoked_at", json_integer(b->revoked_at));
		json_object_set_new(j, "revoked", ctl_jtime(b->revoked_at));
		json_object_set_new(j, "reason", ctl_jstr(b->reason));
		json_object_set_new(j, "revoked_by", ctl_jstr(b->revoked_by));
	}
	if (b->readmitted_at != 0) {
		json_object_set_new(j, "readmitted_at", json_integer(b->readmitted_at));
		json_object_set_new(j, "readmitted", ctl_jtime(b->readmitted_at));
		json_object_set_new(j, "readmitted_by", ctl_jstr(b->readmitted_by));
		json_object_set_new(j, "readmit_reason", b->readmit_reason[0] ?
		    ctl_jstr(b->readmit_reason) : json_null());
	}
	if (ncerts >= 0)
		json_object_set_new(j, "certificates", json_integer(ncerts));
	return j;
}

static int
list_binding_cb(const struct registry_binding *b, void *arg)
{
	struct list_ctx *lc = arg;
	char t[32], s1[80], s2[160];
	int n = 0;

	if (registry_cert_count(lc->reg, b->id, &n, lc->err, sizeof(lc->err)) == -1)
		return -1;
	if (lc->ctl->json) {
		json_array_append_new(lc->arr, binding_json(b, n));
	} else {
		if (lc->count == 0)
			printf("%-20s %-8s %-20s %-32s %5s\n", "SERIAL", "STATE", "CREATED",
			    "AUTHORIZED-BY", "CERTS");
		printf("%-20s %-8s %-20s %-32s %5d\n", ctl_safe(b->serial, s1, sizeof(s1)),
		    b->state, ctl_time(b->created_at, t, sizeof(t)),
		    ctl_safe(b->authorized_by, s2, sizeof(s2)), n);
	}
	lc->count++;
	return 0;
}

static int
list_claim_cb(const char *serial, int64_t claimed_at, const char *actor, void *arg)
{
	struct list_ctx *lc = arg;
	char t[32], s1[80], s2[160];

	if (lc->serial != NULL && strcmp(serial, lc->serial) != 0)
		return 0;
	if (claimed_at < lc->since)
		return 0;
	if (lc->ctl->json) {
		json_array_append_new(lc->arr, json_pack("{s:o, s:I, s:o, s:o}",
		    "serial", ctl_jstr(serial), "claimed_at", (json_int_t)claimed_at,
		    "claimed", ctl_jtime(claimed_at), "actor", ctl_jstr(actor)));
	} else {
		if (lc->count == 0)
			printf("\npending claims:\n%-20s %-20s %s\n", "SERIAL", "CLAIMED",
			    "BY");
		printf("%-20s %-20s %s\n", ctl_safe(serial, s1, sizeof(s1)),
		    ctl_time(claimed_at, t, sizeof(t)), ctl_safe(actor, s2, sizeof(s2)));
	}
	lc->count++;
	return 0;
}

int
cmd_list(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "state", required_argument, NULL, 's' },
		{ "serial", required_argument, NULL, 'S' },
		{ "since", required_argument, NULL, 't' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_filter f;
	struct registry *reg = NULL;
	struct list_ctx lc;
	json_t *j = NULL, *bind = NULL, *claims = NULL;
	int ch, nbind, rc = 1;

	memset(&f, 0, sizeof(f));
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 's':
			if (strcmp(optarg, "active") != 0 && strcmp(optarg, "revoked") != 0)
				return ctl_usage("list: --state must be active or revoked");
			f.state = optarg;
			break;
		case 'S':
			f.serial = optarg;
			break;
		case 't':
			if (ctl_time_parse(optarg, &f.since) == -1)
				return ctl_usage("list: --since '%s' is not UNIXTIME or "
				    "YYYY-MM-DD", optarg);
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("list: unexpected argument '%s'", argv[optind]);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;

	memset(&lc, 0, sizeof(lc));
	lc.ctl = ctl;
	lc.reg = reg;
	lc.serial = f.serial;
	lc.since = f.since;
	if (ctl->json && ((bind = lc.arr = json_array()) == NULL ||
	    (claims = json_array()) == NULL)) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (registry_binding_foreach(reg, &f, list_binding_cb, &lc, lc.err, sizeof(lc.err))) {
		ctl_warnx("list: %s", lc.err);
		goto out;
	}
	nbind = lc.count;
	if (!ctl->json && nbind == 0)
		printf("no bindings\n");
	/* Pending claims are neither active nor revoked: only listed without --state. */
	lc.count = 0;
	lc.arr = claims;
	if (f.state == NULL && registry_claim_foreach(reg, list_claim_cb, &lc, lc.err,
	    sizeof(lc.err))) {
		ctl_warnx("list: %s", lc.err);
		goto out;
	}
	if (ctl->json) {
		j = json_pack("{s:o, s:o}", "bindings", bind, "claims", claims);
		bind = claims = NULL;
		rc = ctl_json_print(j);
		goto out;
	}
	rc = 0;
out:
	json_decref(bind);
	json_decref(claims);
	registry_close(reg);
	return rc;
}

struct show_ctx {
	struct ctl	*ctl;
	struct registry	*reg;
	const char	*serial;
	json_t		*arr;		/* bindings or audit entries (JSON) */
	json_t		*certs;
	int		 count;
	int		 quiet;		/* only count audit entries */
	char		 err[512];
};

static int
show_cert_cb(const struct registry_cert *c, void *arg)
{
	struct show_ctx *sc = arg;
	char t1[32], t2[32], t3[32], s1[160];

	if (sc->ctl->json) {
		json_t *j = json_pack("{s:o, s:I, s:o, s:I, s:o, s:o}",
		    "serial", ctl_jstr(c->cert_serial),
		    "not_before_at", (json_int_t)c->not_before,
		    "not_before", ctl_jtime(c->not_before),
		    "not_after_at", (json_int_t)c->not_after,
		    "not_after", ctl_jtime(c->not_after),
		    "issued", ctl_jtime(c->issued_at));

		if (j != NULL && c->revoked_at != 0) {
			json_object_set_new(j, "revoked", ctl_jtime(c->revoked_at));
			json_object_set_new(j, "reason", ctl_jstr(c->reason));
		}
		if (j != NULL)
			json_object_set_new(j, "revoked_at", c->revoked_at != 0 ?
			    json_integer(c->revoked_at) : json_null());
		json_array_append_new(sc->certs, j);
		return 0;
	}
	printf("  certificate %s\n    valid %s to %s, issued %s\n", c->cert_serial,
	    ctl_time(c->not_before, t1, sizeof(t1)), ctl_time(c->not_after, t2, sizeof(t2)),
	    ctl_time(c->issued_at, t3, sizeof(t3)));
	if (c->revoked_at != 0)
		printf("    revoked %s (%s)\n", ctl_time(c->revoked_at, t1, sizeof(t1)),
		    ctl_safe(c->reason, s1, sizeof(s1)));
	return 0;
}

static int
show_binding_cb(const struct registry_binding *b, void *arg)
{
	struct show_ctx *sc = arg;
	char t[32], s1[300], s2[160];
	json_t *j;

	sc->count++;
	if (sc->ctl->json) {
		if ((j = binding_json(b, -1)) == NULL || (sc->certs = json_array()) == NULL) {
			json_decref(j);
			snprintf(sc->err, sizeof(sc->err), "out of memory");
			return -1;
		}
		json_object_set_new(j, "certificates", sc->certs);
		json_array_append_new(sc->arr, j);
	} else {
		printf("binding %" PRId64 ": %s, created %s, domain %s\n", b->id, b->state,
		    ctl_time(b->created_at, t, sizeof(t)), ctl_safe(b->domain, s1, sizeof(s1)));
		printf("  authorized by %s\n", ctl_safe(b->authorized_by, s2, sizeof(s2)));
		if (b->idevid_fp[0] != '\0')
			printf("  IDevID %s\n", ctl_safe(b->idevid_fp, s2, sizeof(s2)));
		if (b->anchor_fp[0] != '\0')
			printf("  manufacturer %s\n", ctl_safe(b->anchor_fp, s2, sizeof(s2)));
		if (b->revoked_at != 0)
			printf("  revoked %s by %s: %s\n", ctl_time(b->revoked_at, t, sizeof(t)),
			    ctl_safe(b->revoked_by, s1, sizeof(s1)),
			    ctl_safe(b->reason, s2, sizeof(s2)));
		if (b->readmitted_at != 0)
			printf("  re-admitted %s by %s: %s\n",
			    ctl_time(b->readmitted_at, t, sizeof(t)),
			    ctl_safe(b->readmitted_by, s1, sizeof(s1)),
			    ctl_safe(b->readmit_reason, s2, sizeof(s2)));
		else if (b->revoked_at != 0)
			printf("  holds the serial until re-admitted (latchkeyctl readmit)\n");
	}
	if (registry_cert_foreach(sc->reg, b->id, show_cert_cb, sc, sc->err,
	    sizeof(sc->err)) != 0)
		return -1;
	return 0;
}

static int
show_audit_cb(const struct registry_audit_entry *a, void *arg)
{
	struct show_ctx *sc = arg;

	if (a->subject == NULL || strcmp(a->subject, sc->serial) != 0)
		return 0;
	if (sc->quiet)
		sc->count++;
	else if (sc->ctl->json)
		json_array_append_new(sc->arr, ctl_audit_json(a, sc->ctl->verbose));
	else {
		if (sc->count == 0)
			printf("audit:\n");
		ctl_audit_print(a, sc->ctl->verbose, "  ");
	}
	if (!sc->quiet)
		sc->count++;
	return 0;
}

int
cmd_show(struct ctl *ctl, int argc, char **argv)
{
	char statefile[4096], latch[512] = "none";
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_filter f;
	struct registry *reg = NULL;
	struct show_ctx sc;
	json_t *bindings = NULL, *audit = NULL;
	const char *serial;
	char err[512], s1[80], claim_fp[PKI_FP_LEN + 8];
	int ch, claimed, known, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage("show: exactly one SERIAL expected");
	serial = argv[optind];
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	if ((claimed = registry_claim_anchor(reg, serial, claim_fp, sizeof(claim_fp), err,
	    sizeof(err))) == -1) {
		ctl_warnx("show: %s", err);
		goto out;
	}

	memset(&sc, 0, sizeof(sc));
	sc.ctl = ctl;
	sc.reg = reg;
	sc.serial = serial;
	/* Known at all? A claim, a binding or an audit entry about it. */
	if ((known = registry_binding_get(reg, serial, NULL, err, sizeof(err))) == -1) {
		ctl_warnx("show: %s", err);
		goto out;
	}
	if (!known && !claimed) {
		sc.quiet = 1;
		if (registry_audit_foreach(reg, 0, show_audit_cb, &sc, sc.err,
		    sizeof(sc.err))) {
			ctl_warnx("show: %s", sc.err);
			goto out;
		}
		if (sc.count == 0) {
			ctl_warnx("unknown serial %s", ctl_safe(serial, s1, sizeof(s1)));
			goto out;
		}
		sc.quiet = 0;
		sc.count = 0;
	}
	if (ctl->json && ((bindings = json_array()) == NULL || (audit = json_array()) == NULL)) {
		ctl_warnx("out of memory");
		goto out;
	}
	if (!ctl->json && claimed && claim_fp[0] != '\0')
		printf("serial %s (claimed for manufacturer %s)\n",
		    ctl_safe(serial, s1, sizeof(s1)), claim_fp);
	else if (!ctl->json)
		printf("serial %s%s\n", ctl_safe(serial, s1, sizeof(s1)),
		    claimed ? " (claimed)" : "");
	memset(&f, 0, sizeof(f));
	f.serial = serial;
	sc.arr = bindings;
	if (registry_binding_foreach(reg, &f, show_binding_cb, &sc, sc.err, sizeof(sc.err))) {
		ctl_warnx("show: %s", sc.err);
		goto out;
	}
	sc.count = 0;
	sc.arr = audit;
	if (registry_audit_foreach(reg, 0, show_audit_cb, &sc, sc.err, sizeof(sc.err))) {
		ctl_warnx("show: %s", sc.err);
		goto out;
	}
	/* latchkeyd (latch = yes) writes its latches beside the registry */
	if (ctl_db_path(ctl->db, "latch-state.json", statefile, sizeof(statefile)) == 0 &&
	    latch_statefile_read(statefile, serial, latch, sizeof(latch), sc.err,
	    sizeof(sc.err)) != 0)
		snprintf(latch, sizeof(latch), "none");
	if (ctl->json) {
		rc = ctl_json_print(json_pack("{s:o, s:b, s:o, s:o, s:s}",
		    "serial", ctl_jstr(serial), "claimed", claimed, "bindings", bindings,
		    "audit", audit, "latch", latch));
		bindings = audit = NULL;
		goto out;
	}
	printf("latch      %s\n", latch);
	rc = 0;
out:
	json_decref(bindings);
	json_decref(audit);
	registry_close(reg);
	return rc;
}
