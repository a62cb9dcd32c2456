/*
 * err: the error-buffer convention of enroll/'s libraries. A library function that fails
 * writes one line into the caller's buffer and returns -1; the program decides how to
 * report it (latchkeyd logs, the CLIs print). Nothing here logs or exits.
 */
#ifndef LATCHKEY_ERR_H
#define LATCHKEY_ERR_H

#include <stddef.h>

/* Format one line into the caller's error buffer err (may be NULL); returns -1. */
int	errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
