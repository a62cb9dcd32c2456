/*
 * log: the logging module of latchkeyd, the only program that logs. Library modules never
 * log: they return errors in a caller's buffer, written with errf() (enroll/common/err.h).
 *
 * log_init(debug, verbose, ident): debug = 1 logs to stderr, else to syslog (daemon facility);
 * verbose > 0 enables log_debug. log_warn appends strerror(errno). fatal/fatalx log (LOG_CRIT)
 * and exit(1); use them only at start-up or on a broken invariant. log_err is LOG_ERR: a
 * failure latchkeyd survives but an operator must act on.
 *
 * log_early_stderr(done): logging to syslog, also copy every line to stderr until done()
 * returns 1 (start-up is over: the workers serve), then never again; so a daemon's start-up
 * errors reach whoever started it. done is called on each line until then.
 *
 * Lines on stderr carry their severity. When stderr is the systemd journal (JOURNAL_STREAM
 * names it), each line is "<N>message", N the syslog priority (2 crit, 3 err, 4 warning,
 * 6 info, 7 debug), without a timestamp: journald adds it. Otherwise "HH:MM:SS.mmm ident:
 * message" (UTC), with "fatal: ", "error: " or "warning: " before the message for those
 * levels (not doubled when the message starts with it). Messages are sanitized: bytes
 * outside printable ASCII become \xNN.
 */
#ifndef LATCHKEY_LOG_H
#define LATCHKEY_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(int debug, int verbose, const char *ident);
void	log_early_stderr(int (*done)(void));
void	log_setverbose(int verbose);
int	log_getverbose(void);
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
