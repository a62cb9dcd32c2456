/*
 * cmd_posture: `latchkeyctl posture show SERIAL` and `posture diff SERIAL` (issue #20):
 * a device's latest posture verdict with its reasons, and what changed between its last
 * two reports. Read-only.
 */
#include "enroll/latchkeyctl/ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "enroll/common/posture.h"
#include "enroll/store/registry.h"

/* The report's inventory, parsed again (it was checked when received). */
static int
posture_inv(const struct registry_posture *p, struct posture_report *r)
{
	char err[256];

	if (posture_report_parse(p->report, strlen(p->report), r, err, sizeof(err)) == -1) {
		ctl_warnx("posture: report %lld of %s: %s", (long long)p->id, p->serial, err);
		return -1;
	}
	return 0;
}

static int
posture_show(struct ctl *ctl, struct registry_posture *p)
{
	struct posture_report r;
	json_t *reasons, *j;
	char t1[32], t2[32], s1[80], s2[300];
	size_t i;
	int rc = 1;

	memset(&r, 0, sizeof(r));
	if (posture_inv(p, &r) == -1)
		goto out;
	if ((reasons = json_loads(p->reasons, 0, NULL)) == NULL || !json_is_array(reasons)) {
		json_decref(reasons);
		ctl_warnx("posture: report %lld: reasons are not a JSON list", (long long)p->id);
		goto out;
	}
	if (ctl->json) {
		j = json_pack("{s:s, s:b, s:o, s:I, s:s, s:I, s:s, s:s, s:I, s:I}", "serial",
		    p->serial, "compliant", p->compliant, "reasons", reasons, "report",
		    (json_int_t)p->id, "received", ctl_time(p->received_at, t1, sizeof(t1)),
		    "received_at", (json_int_t)p->received_at, "report_time",
		    ctl_time(p->report_time, t2, sizeof(t2)), "ldevid_serial", p->ldevid_serial,
		    "packages", (json_int_t)r.inv.npkgs, "files", (json_int_t)r.inv.nfiles);
		rc = ctl_json_print(j) == 0 ? 0 : 1;	/* drops j */
		goto out;
	}
	printf("%s: %s (report %lld received %s, made %s, LDevID %s, %zu packages, %zu "
	    "files)\n", ctl_safe(p->serial, s1, sizeof(s1)),
	    p->compliant ? "compliant" : "noncompliant", (long long)p->id,
	    ctl_time(p->received_at, t1, sizeof(t1)), ctl_time(p->report_time, t2, sizeof(t2)),
	    p->ldevid_serial, r.inv.npkgs, r.inv.nfiles);
	for (i = 0; i < json_array_size(reasons); i++)
		printf("  %s\n", ctl_safe(json_string_value(json_array_get(reasons, i)), s2,
		    sizeof(s2)));
	json_decref(reasons);
	rc = 0;
out:
	posture_report_free(&r);
	return rc;
}

static void
diff_print(json_t *d)
{
	json_t *e;
	size_t i;
	char s1[200], s2[200], s3[200];

#define S(k, b) ctl_safe(json_string_value(json_object_get(e, k)), b, sizeof(b))
	json_array_foreach(json_object_get(d, "added"), i, e)
		printf("+ %s %s %s\n", S("name", s1), S("version", s2), S("architecture", s3));
	json_array_foreach(json_object_get(d, "removed"), i, e)
		printf("- %s %s %s\n", S("name", s1), S("version", s2), S("architecture", s3));
	json_array_foreach(json_object_get(d, "changed"), i, e) {
		printf("~ %s %s -> ", S("name", s1), S("from", s2));
		printf("%s\n", S("to", s3));
	}
	json_array_foreach(json_object_get(d, "files"), i, e) {
		printf("~ file %s %.16s -> ", S("fs-name", s1), S("from", s2));
		printf("%.16s\n", S("to", s3));
	}
#undef S
}

static int
posture_diff_cmd(struct ctl *ctl, struct registry_posture *p, int n)
{
	struct posture_report a, b;
	json_t *d = NULL;
	int rc = 1;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	if (n < 2) {
		ctl_warnx("posture diff: %s has only one report (%lld)", p[0].serial,
		    (long long)p[0].id);
		return 1;
	}
	if (posture_inv(&p[1], &a) == -1 || posture_inv(&p[0], &b) == -1)
		goto out;
	if ((d = posture_diff(&a.inv, &b.inv)) == NULL) {
		ctl_warnx("out of memory");
		goto out;
	}
	json_object_set_new(d, "serial", json_string(p[0].serial));
	json_object_set_new(d, "from_report", json_integer(p[1].id));
	json_object_set_new(d, "to_report", json_integer(p[0].id));
	json_object_set_new(d, "from_compliant", json_boolean(p[1].compliant));
	json_object_set_new(d, "to_compliant", json_boolean(p[0].compliant));
	if (ctl->json) {
		rc = ctl_json_print(d) == 0 ? 0 : 1;	/* drops d */
		d = NULL;
		goto out;
	}
	printf("%s: report %lld (%s) -> report %lld (%s)\n", p[0].serial, (long long)p[1].id,
	    p[1].compliant ? "compliant" : "noncompliant", (long long)p[0].id,
	    p[0].compliant ? "compliant" : "noncompliant");
	diff_print(d);
	rc = 0;
out:
	json_decref(d);
	posture_report_free(&a);
	posture_report_free(&b);
	return rc;
}

int
cmd_posture(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_posture p[2];
	struct registry *reg = NULL;
	const char *sub, *serial;
	char err[512], s1[80];
	int ch, n = 0, rc = 1, i;

	if (argc < 2 || (strcmp(argv[1], "show") != 0 && strcmp(argv[1], "diff") != 0)) {
		if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
			return ctl_help(ctl);
		return ctl_usage("posture: expected 'posture show SERIAL' or 'posture diff "
		    "SERIAL'");
	}
	sub = argv[1];
	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc - 1, argv + 1, "", lo)) != -1) {
		switch (ch) {
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - 1 - optind != 1)
		return ctl_usage("posture %s: exactly one SERIAL expected", sub);
	serial = argv[1 + optind];
	if (!ctl_serial_valid(serial))
		return ctl_usage("posture %s: invalid serial '%.64s'", sub, serial);
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	memset(p, 0, sizeof(p));
	if ((n = registry_posture_latest(reg, serial, p, strcmp(sub, "diff") == 0 ? 2 : 1,
	    err, sizeof(err))) == -1) {
		ctl_warnx("posture %s: %s", sub, err);
		n = 0;
		goto out;
	}
	if (n == 0) {
		ctl_warnx("posture %s: no posture report from %s", sub,
		    ctl_safe(serial, s1, sizeof(s1)));
		goto out;
	}
	rc = strcmp(sub, "show") == 0 ? posture_show(ctl, &p[0]) :
	    posture_diff_cmd(ctl, p, n);
out:
	for (i = 0; i < n; i++)
		registry_posture_free(&p[i]);
	registry_close(reg);
	return rc;
}
