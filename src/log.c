/* log.c: the runner's and client's own log lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_prefix = "r2k";
static enum log_level log_max = LOG_INFO;

void log_init(const char *prefix, enum log_level max)
{
	log_prefix = prefix;
	log_max = max;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= log_max;
}

void log_msg(enum log_level lvl, unsigned long conn, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char line[2048];
	size_t n = 0;
	va_list ap;

	if (lvl > log_max)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	n += strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s %s", ts.tv_nsec / 1000000,
	                      log_prefix, names[lvl]);
	if (conn)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " [%lu]", conn);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ": ");
	va_start(ap, fmt);
	if (n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	n = strlen(line);
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}
