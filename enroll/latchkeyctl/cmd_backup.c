/*
 * cmd_backup: `latchkeyctl backup FILE`, a consistent copy of the live registry (SQLite's
 * online backup, registry_backup()) while latchkeyd runs. Restoring it is by hand, with
 * latchkeyd stopped: latchkeyctl(8), backup.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "enroll/latchkeyctl/ctl.h"
#include "enroll/store/registry.h"

int
cmd_backup(struct ctl *ctl, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "force", no_argument, NULL, 'f' },
		CTL_COMMON_LONGOPTS,
		{ NULL, 0, NULL, 0 }
	};
	struct registry_backup_info bi;
	struct registry *reg;
	const char *file;
	char err[1024], head[96], abs[PATH_MAX];
	int ch, r, flags = 0, rc = 1;

	ctl_getopt_reset();
	while ((ch = ctl_getopt(ctl, argc, argv, "f", lo)) != -1) {
		switch (ch) {
		case 'f':
			flags |= REGISTRY_BACKUP_REPLACE;
			break;
		case 'h':
			return ctl_help(ctl);
		default:
			return CTL_EXIT_USAGE;
		}
	}
	if (argc - optind != 1)
		return ctl_usage("backup: exactly one FILE expected");
	file = argv[optind];
	if (*file == '\0')
		return ctl_usage("backup: FILE is empty");
	if ((reg = ctl_open(ctl, REGISTRY_RDONLY)) == NULL)
		return 1;
	r = registry_backup(reg, file, flags, &bi, err, sizeof(err));
	registry_close(reg);
	if (r == 1) {
		ctl_warnx("backup: %s; --force replaces it", err);
		return 1;
	}
	if (r == -1) {
		ctl_warnx("backup: %s", err);
		return 1;
	}
	if (bi.seq == 0)
		snprintf(head, sizeof(head), "0:none");
	else
		snprintf(head, sizeof(head), "%" PRId64 ":sha256:%s", bi.seq, bi.head);
	if (ctl->json)
		rc = ctl_json_print(json_pack("{s:o, s:s, s:I}", "backup", ctl_jpath(file),
		    "audit_head", head, "entries", (json_int_t)bi.entries));
	else {
		printf("backup %s (audit head %s, %" PRId64 " entr%s)\n",
		    ctl_abs_path(file, abs, sizeof(abs)), head, bi.entries,
		    bi.entries == 1 ? "y" : "ies");
		rc = 0;
	}
	return rc;
}
