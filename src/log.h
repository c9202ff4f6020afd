/* log.h: one line per event on stderr, with a level and an optional connection id. */
#ifndef R2K_LOG_H
#define R2K_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Set the prefix ("r2k runner") and the most verbose level printed. */
void log_init(const char *prefix, enum log_level max);
bool log_enabled(enum log_level lvl);
/* Log a line; conn is a connection id, or 0 for none. */
void log_msg(enum log_level lvl, unsigned long conn, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define log_error(conn, ...) log_msg(LOG_ERROR, conn, __VA_ARGS__)
#define log_warn(conn, ...)  log_msg(LOG_WARN, conn, __VA_ARGS__)
#define log_info(conn, ...)  log_msg(LOG_INFO, conn, __VA_ARGS__)
#define log_debug(conn, ...) log_msg(LOG_DEBUG, conn, __VA_ARGS__)

#endif
