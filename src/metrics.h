/* metrics.h: runner counters as Prometheus text, and the check-kind table they are kept by. */
#ifndef R2K_METRICS_H
#define R2K_METRICS_H

#include <stdbool.h>
#include <stddef.h>

struct runner;
struct runner_stats;

/* Number of rows of runner_stats.checks: the known kinds plus "other". */
#define METRICS_CHECK_KINDS 8

/*
 * Row of runner_stats.checks for a check kind (docs/protocol.md, "Check
 * results"); kinds not in the table share the last row, labelled "other".
 */
int metrics_check_kind_index(const char *kind);
/* Number of columns of runner_stats.check_statuses: the known statuses plus "other". */
#define METRICS_CHECK_STATUSES 22

/* Column of runner_stats.check_statuses for a check status; unknown ones share "other". */
int metrics_check_status_index(const char *status);
/* Count one check result: checks[kind][passed] and check_statuses[kind][status]. */
void metrics_count_check(struct runner_stats *s, const char *kind, const char *status, bool passed);
/* Render every metric as Prometheus text format 0.0.4; malloc'd, NULL on OOM. */
char *metrics_render(const struct runner *r, size_t *len);

#endif
