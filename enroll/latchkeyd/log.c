/* log: see log.h. Modelled on OpenBSD's log.c. */
#include "enroll/latchkeyd/log.h"

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_to_stderr = 1;
static int log_journal;		/* stderr is a journal stream: "<N>msg" lines */
static int (*log_early)(void);	/* syslog: copy to stderr too until it returns 1 */
static int log_verbose;
static const char *log_ident = "latchkey";

/*
 * Whether standard error is a stream to the systemd journal: systemd sets JOURNAL_STREAM to
 * "DEV:INODE" (decimal st_dev and st_ino) of the stream it connects to a service's standard
 * output and error (systemd.exec(5)). A stderr redirected elsewhere does not match.
 */
static int
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (e == NULL || !isdigit((unsigned char)e[0]))
		return 0;
	errno = 0;
	dev = strtoull(e, &end, 10);
	if (errno != 0 || *end != ':' || !isdigit((unsigned char)end[1]))
		return 0;
	ino = strtoull(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void
log_init(int debug, int verbose, const char *ident)
{
	int saved = errno;

	log_to_stderr = debug;
	log_journal = debug && log_stderr_is_journal();
	log_verbose = verbose;
	if (ident != NULL)
		log_ident = ident;
	if (!debug)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	errno = saved;
}

void
log_early_stderr(int (*done)(void))
{
	log_early = done;
	if (done != NULL && !log_to_stderr)
		log_journal = log_stderr_is_journal();
}

/* Whether a line goes to stderr: -d, or syslog while start-up is not over. */
static int
log_stderr_now(void)
{
	if (log_to_stderr)
		return 1;
	if (log_early != NULL && log_early())
		log_early = NULL;	/* over for good */
	return log_early != NULL;
}

void
log_setverbose(int verbose)
{
	log_verbose = verbose;
}

int
log_getverbose(void)
{
	return log_verbose;
}

/*
 * Log lines carry peer-supplied text (paths, serials, reasons): anything outside printable
 * ASCII becomes \xNN, so no request can forge log lines or send escape sequences to a
 * terminal.
 */
static void
log_sanitize(const char *in, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0;

	for (; *p != '\0' && o + 5 < outlen; p++) {
		if (*p >= 0x20 && *p < 0x7f)
			out[o++] = (char)*p;
		else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

/*
 * The severity word of a stderr line ("warning: "), "" for info and debug, or when the
 * message already starts with it (some callers write "warning: ..." themselves).
 */
static const char *
log_severity(int pri, const char *msg)
{
	const char *w;

	switch (pri) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		w = "fatal: ";
		break;
	case LOG_ERR:
		w = "error: ";
		break;
	case LOG_WARNING:
		w = "warning: ";
		break;
	default:
		return "";
	}
	return strncmp(msg, w, strlen(w)) == 0 ? "" : w;
}

/* One line on stderr: "<N>msg" to the journal, else "HH:MM:SS.mmm ident: [level: ]msg". */
static void
log_stderr_line(int pri, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char tbuf[32];

	if (log_journal) {
		/* journald reads the priority and adds time, name and PID itself */
		fprintf(stderr, "<%d>%s\n", pri, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tbuf, sizeof(tbuf), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld %s: %s%s\n", tbuf, ts.tv_nsec / 1000000, log_ident,
	    log_severity(pri, msg), msg);
}

static void
vlog(int pri, const char *fmt, va_list ap, int with_errno)
{
	char raw[1024], msg[1024 * 4 + 1];
	int saved = errno;

	vsnprintf(raw, sizeof(raw), fmt, ap);
	log_sanitize(raw, msg, sizeof(msg));
	if (with_errno) {
		size_t n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	if (!log_to_stderr)
		syslog(pri, "%s", msg);
	if (log_stderr_now())
		log_stderr_line(pri, msg);
	errno = saved;
}

#define LOGFN(name, pri, err, cond)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	if (!(cond))						\
		return;						\
	va_start(ap, fmt);					\
	vlog(pri, fmt, ap, err);				\
	va_end(ap);						\
}

LOGFN(log_warn, LOG_WARNING, 1, 1)
LOGFN(log_warnx, LOG_WARNING, 0, 1)
LOGFN(log_err, LOG_ERR, 0, 1)
LOGFN(log_info, LOG_INFO, 0, 1)
LOGFN(log_debug, LOG_DEBUG, 0, log_verbose > 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}
