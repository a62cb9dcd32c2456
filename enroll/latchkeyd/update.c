/* update: the update-server role's files (update.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enroll/common/manifest.h"
#include "enroll/latchkeyd/update.h"

int
update_path_valid(const char *rest)
{
	return manifest_path_ok(rest, UPDATE_PATH_MAX, UPDATE_DEPTH_MAX);
}

int
update_file_read(const char *dir, const char *rest, unsigned char **buf, size_t *len,
    char *err, size_t errlen)
{
	char path[4096];
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd = -1, dfd = -1, status = 500;

	*buf = NULL;
	if (!update_path_valid(rest)) {
		snprintf(err, errlen, "not found");
		return 404;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s", rest) >= sizeof(path))
		return 404;
	/* RESOLVE_BENEATH would be neater; O_NOFOLLOW on the last one and no '.' segments
	 * keep the walk inside dir, and dir itself is the administrator's */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "update-dir unreadable");
		goto out;
	}
	if ((fd = openat(dfd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not found");
		status = 404;
		goto out;
	}
	if ((uint64_t)st.st_size > UPDATE_FILE_MAX) {
		snprintf(err, errlen, "file larger than %u octets", UPDATE_FILE_MAX);
		status = 413;
		goto out;
	}
	if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, *buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "read failed");
			free(*buf);
			*buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	*len = got;
	status = 200;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	return status;
}

const char *
update_file_ctype(const char *rest)
{
	size_t n = strlen(rest);

	if (n >= 4 && strcmp(rest + n - 4, ".cms") == 0)
		return "application/cms";
	if (n >= 5 && strcmp(rest + n - 5, ".json") == 0)
		return "application/json";
	return "application/octet-stream";
}
