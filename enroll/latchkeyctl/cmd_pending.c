/*
 * cmd_pending: approvals. With "pending = yes" latchkeyd holds an authenticated device that
 * nothing admits (valid IDevID, no claim, no auto-accept) with HTTP 202 and records it in
 * the registry; `pending` lists those devices, `approve` claims them for the manufacturer
 * their IDevID chains to, `deny` refuses them (with a reason) until claimed. Every
 * decision is audited (registry_pending_decide()).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

struct pending_ctx {
	struct ctl		*ctl;
	json_t			*arr;		/* --json */
	struct registry_pending	*rows;		/* text: the rows, for column widths */
	size_t			 n, cap;
};

static json_t *
pending_json(const struct registry_pending *p)
{
	json_t *j;

	j = json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:I, s:o, s:o, s:I}",
	    "serial", ctl_jstr(p->serial),
	    "state", ctl_jstr(p->state),
	    "manufacturer", ctl_jstr(p->anchor_fp),
	    "manufacturer_name", ctl_jstr(p->anchor_name),
	    "idevid_fp", ctl_jstr(p->idevid_fp),
	    "first_seen_at", (json_int_t)p->first_seen,
	    "first_seen", ctl_jtime(p->first_seen),
	    "last_seen_at", (json_int_t)p->last_seen,
	    "last_seen", ctl_jtime(p->last_seen),
	    "peer", p->peer[0] ? ctl_jstr(p->peer) : json_null(),
	    "attempts", (json_int_t)p->attempts);
	if (j == NULL)
		return NULL;
	if (p->decided_at != 0) {
		json_object_set_new(j, "denied_at", json_integer(p->decided_at));
		json_object_set_new(j, "denied", ctl_jtime(p->decided_at));
		json_object_set_new(j, "denied_by", ctl_jstr(p->decided_by));
		json_object_set_new(j, "reason", p->reason[0] ? ctl_jstr(p->reason) :
		    json_null());
	}
	return j;
}

static int
pending_cb(const struct registry_pending *p, void *arg)
{
	struct pending_ctx *pc = arg;
	struct registry_pending *nr;
	size_t ncap;

	if (pc->ctl->json) {
		json_array_append_new(pc->arr, pending_json(p));
		return 0;
	}
	if (pc->n == pc->cap) {
		ncap = pc->cap ? pc->cap * 2 : 16;
		if ((nr = reallocarray(pc->rows, ncap, sizeof(*nr))) == NULL) {
			ctl_warnx("out of memory");
			return 1;
		}
		pc->rows = nr;
		pc->cap = ncap;
	}
	pc->rows[pc->n++] = *p;
	return 0;
}

/* The table: serial, state, manufacturer (the anchor's name), first and last seen, peer,
 * attempts; with -v the fingerprints, and a denied row's decision. */
static void
pending_print(const struct pending_ctx *pc)
{
	const struct registry_pending *p;
	char t1[32], t2[32], s1[80], s2[260], s3[80], s4[160];
	int ws = 6, wm = 12, wp = 4, n;
	size_t i;

	for (i = 0; i < pc->n; i++) {
		p = &pc->rows[i];
		if ((n = (int)strlen(ctl_safe(p->serial, s1, sizeof(s1)))) > ws)
			ws = n;
		if ((n = (int)strlen(ctl_safe(p->anchor_name, s2, sizeof(s2)))) > wm)
			wm = n;
		if ((n = (int)strlen(ctl_safe(p->peer, s3, sizeof(s3)))) > wp)
			wp = n;
	}
	printf("%-*s  %-7s  %-*s  %-20s  %-20s  %-*s  %s\n", ws, "SERIAL", "STATE", wm,
	    "MANUFACTURER", "FIRST-SEEN", "LAST-SEEN", wp, "PEER", "ATTEMPTS");
	for (i = 0; i < pc->n; i++) {
		p = &pc->rows[i];
		printf("%-*s  %-7s  %-*s  %-20s  %-20s  %-*s  %" PRId64 "\n", ws,
		    ctl_safe(p->serial, s1, sizeof(s1)), p->state, wm,
		    ctl_safe(p->anchor_name, s2, sizeof(s2)),
		    ctl_time(p->first_seen, t1, sizeof(t1)),
		    ctl_time(p->last_seen, t2, sizeof(t2)), wp,
		    ctl_safe(p->peer, s3, sizeof(s3)), p->attempts);
		if (pc->ctl->verbose)
			printf("    manufacturer %s, IDevID %s\n",
			    ctl_safe(p->anchor_fp, s3, sizeof(s3)),
			    ctl_safe(p->idevid_fp, s1, sizeof(s1)));
		if (p->decided_at != 0)
			printf("    denied %s by %s%s%s\n", ctl_time(p->decided_at, t1,
			    sizeof(t1)), ctl_safe(p->decided_by, s2, sizeof(s2)),
			    p->reason[0] ? ": " : "", p->reason[0] ? ctl_safe(p->reason, s4,
			    sizeof(s4)) : "");
	}
}

int
cmd_pending(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct pending_ctx pc;
	struct registry *reg;
	char err[512];
	int ch, r, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind < argc)
		return ctl_usage("pending: unexpected argument '%s'", argv[optind]);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	memset(&pc, 0, sizeof(pc));
	pc.ctl = ctl;
	if (ctl->json && (pc.arr = json_array()) == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	if ((r = registry_pending_list(reg, pending_cb, &pc, err, sizeof(err))) != 0) {
		if (r == -1)	/* else the callback said why */
			ctl_warnx("pending: %s", err);
		goto out;
	}
	if (ctl->json) {
		rc = ctl_json_print(json_pack("{s:o}", "pending", pc.arr));
		pc.arr = NULL;
	} else {
		if (pc.n == 0)
			printf("no pending devices\n");
		else
			pending_print(&pc);
		rc = 0;
	}
out:
	json_decref(pc.arr);
	free(pc.rows);
	registry_close(reg);
	return rc;
}

/* The row of one serial, for what approve and deny print. */
struct pending_find {
	const char		*serial;
	struct registry_pending	 p;
	int			 found;
};

static int
pending_find_cb(const struct registry_pending *p, void *arg)
{
	struct pending_find *f = arg;

	if (strcmp(p->serial, f->serial) != 0)
		return 0;
	f->p = *p;
	f->found = 1;
	return 1;
}

/* approve / deny: one line per serial; failures are reported and make the exit 1. */
static int
decide(struct ctl *ctl, int argc, char **argv, enum registry_decision d)
{
	static const struct option lo[] = {
		{ "reason", required_argument, NULL, 'r' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	const char *cmd = d == REGISTRY_APPROVE ? "approve" : "deny", *reason = NULL, *s;
	char actor[300], err[512], s1[160], s2[160];
	struct pending_find f;
	struct registry *reg = NULL;
	json_t *j = NULL, *done = NULL;
	int ch, i, r, failed = 0;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "", lo)) != -1) {
		switch (ch) {
		case 'r':
			if (*optarg == '\0' || strlen(optarg) >= sizeof(f.p.reason))
				return ctl_usage("%s: --reason wants 1 to %zu bytes", cmd,
				    sizeof(f.p.reason) - 1);
			reason = optarg;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return ctl_usage("%s: no serial given", cmd);
	for (i = optind; i < argc; i++)
		if (!ctl_serial_valid(argv[i]))
			return ctl_usage("%s: invalid serial '%.64s'", cmd, argv[i]);
	if ((reg = ctl_open(ctl, 0)) == NULL)
		return 1;
	ctl_actor(actor, sizeof(actor));
	if (ctl->json && ((j = json_object()) == NULL || (done = json_array()) == NULL)) {
		ctl_warnx("out of memory");
		failed = 1;
		goto out;
	}
	for (i = optind; i < argc; i++) {
		s = argv[i];
		memset(&f, 0, sizeof(f));
		f.serial = s;
		if (registry_pending_list(reg, pending_find_cb, &f, err,
		    sizeof(err)) == -1) {
			ctl_warnx("%s %s: %s", cmd, s, err);
			failed = 1;
			continue;
		}
		r = f.found ? registry_pending_decide(reg, s, d, actor, reason, err,
		    sizeof(err)) : 1;
		if (r == -1) {
			ctl_warnx("%s %s: %s", cmd, s, err);
			failed = 1;
			continue;
		}
		if (r == 1) {
			ctl_warnx("%s %s: no pending request from this serial (see "
			    "'latchkeyctl pending')", cmd, s);
			failed = 1;
			continue;
		}
		if (r == 2) {	/* revoked: only readmit lifts it */
			ctl_warnx("%s %s: %s; re-admit it with 'latchkeyctl readmit %s'",
			    cmd, s, err, s);
			failed = 1;
			continue;
		}
		if (ctl->json)
			json_array_append_new(done, ctl_jstr(s));
		else if (d == REGISTRY_APPROVE)
			printf("approved %s: claimed for manufacturer \"%s\" (%s)\n", s,
			    ctl_safe(f.p.anchor_name, s1, sizeof(s1)),
			    ctl_safe(f.p.anchor_fp, s2, sizeof(s2)));
		else
			printf("denied %s%s%s\n", s, reason != NULL ? ": " : "",
			    reason != NULL ? ctl_safe(reason, s1, sizeof(s1)) : "");
	}
	if (ctl->json) {
		json_object_set_new(j, d == REGISTRY_APPROVE ? "approved" : "denied", done);
		done = NULL;
		if (ctl_json_print(j) != 0)
			failed = 1;
		j = NULL;
	}
out:
	json_decref(j);
	json_decref(done);
	registry_close(reg);
	return failed;
}

int
cmd_approve(struct ctl *ctl, int argc, char **argv)
{
	return decide(ctl, argc, argv, REGISTRY_APPROVE);
}

int
cmd_deny(struct ctl *ctl, int argc, char **argv)
{
	return decide(ctl, argc, argv, REGISTRY_DENY);
}
