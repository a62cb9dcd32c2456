/*
 * log: the one logging module of latchkey's programs. Library modules never log: they
 * return errors in a caller's buffer, written with errf().
 *
 * log_init(debug, verbose, ident): debug = 1 logs to stderr, else to syslog (daemon facility);
 * verbose > 0 enables log_debug. log_warn appends strerror(errno). fatal/fatalx log and
 * exit(1); use them only at start-up or on a broken invariant.
 */
#ifndef LATCHKEY_LOG_H
#define LATCHKEY_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(int debug, int verbose, const char *ident);
void	log_setverbose(int verbose);
int	log_getverbose(void);
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Format one line into the caller's error buffer err (may be NULL); returns -1. */
int	errf(char *err, size_t errlen, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

#endif
