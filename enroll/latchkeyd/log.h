/*
 * log: the logging module of latchkeyd, the only program that logs. Library modules never
 * log: they return errors in a caller's buffer, written with errf() (enroll/common/err.h).
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

#endif
