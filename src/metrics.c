/* metrics.c: renders the runner's counters as Prometheus text, only when /metrics asks. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

/* A growing text buffer; on OOM it stops growing and remembers the failure. */
struct text {
	char *s;
	size_t len, cap;
	bool oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void help_type(struct text *t, const char *name, const char *type, const char *help);
static void counter(struct text *t, const char *name, const char *help, unsigned long long v);

/* Rows of runner_stats.checks; keep in step with docs/protocol.md. */
static const char *const check_kinds[METRICS_CHECK_KINDS] = {
        "reachability", "auth", "push", "cache", "base_image", "cache_dir", "warm", "other",
};

/* Columns of runner_stats.check_statuses (README.md, "Checks"); "other" last. */
static const char *const check_statuses[METRICS_CHECK_STATUSES] = {
        "ok",          "anonymous",  "present",         "missing",   "warm",         "cold",
        "cached",      "not_cached", "warmed",          "dns",       "refused",      "timeout",
        "tls",         "http_error", "bad_credentials", "forbidden", "unauthorized", "rate_limited",
        "unreachable", "error",      "failed",          "other",
};

/* Upper bounds of the duration buckets, as runner_build_release counts them. */
static const char *const duration_bounds[] = {
        "1", "5", "10", "30", "60", "120", "300", "600", "1200", "1800", "3600", "+Inf",
};

int metrics_check_kind_index(const char *kind)
{
	for (int i = 0; kind && i < METRICS_CHECK_KINDS - 1; i++)
		if (strcmp(kind, check_kinds[i]) == 0)
			return i;
	return METRICS_CHECK_KINDS - 1;
}

int metrics_check_status_index(const char *status)
{
	for (int i = 0; status && i < METRICS_CHECK_STATUSES - 1; i++)
		if (strcmp(status, check_statuses[i]) == 0)
			return i;
	return METRICS_CHECK_STATUSES - 1;
}

void metrics_count_check(struct runner_stats *s, const char *kind, const char *status, bool passed)
{
	int k = metrics_check_kind_index(kind);
	s->checks[k][passed ? 1 : 0]++;
	s->check_statuses[k][metrics_check_status_index(status)]++;
}

/* Append formatted text. */
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n + 1;
		char *s = realloc(t->s, cap);
		if (!s) {
			t->oom = true;
			return;
		}
		t->s = s;
		t->cap = cap;
	}
}

/* The HELP and TYPE lines of one metric family. */
static void help_type(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter family with one unlabelled sample. */
static void counter(struct text *t, const char *name, const char *help, unsigned long long v)
{
	help_type(t, name, "counter", help);
	put(t, "%s %llu\n", name, v);
}

char *metrics_render(const struct runner *r, size_t *len)
{
	const struct runner_stats *st = &r->stats;
	struct text t = {0};
	t.cap = 4096;
	t.s = malloc(t.cap);
	if (!t.s)
		return NULL;
	t.s[0] = '\0';

	counter(&t, "r2k_builds_started_total", "Builds that were granted a build slot.",
	        st->builds_started);
	counter(&t, "r2k_builds_succeeded_total", "Builds that ended with status 0.",
	        st->builds_succeeded);
	counter(&t, "r2k_builds_failed_total", "Builds that ended with a non-zero status.",
	        st->builds_failed);

	help_type(&t, "r2k_build_duration_seconds", "histogram",
	          "Time from build slot to build end, in seconds.");
	unsigned long long cum = 0;
	size_t nb = sizeof(duration_bounds) / sizeof(duration_bounds[0]);
	_Static_assert(sizeof(duration_bounds) / sizeof(duration_bounds[0]) ==
	                       sizeof(st->duration_buckets) / sizeof(st->duration_buckets[0]),
	               "one label per duration bucket");
	for (size_t i = 0; i < nb; i++) {
		cum += st->duration_buckets[i];
		put(&t, "r2k_build_duration_seconds_bucket{le=\"%s\"} %llu\n", duration_bounds[i],
		    cum);
	}
	put(&t, "r2k_build_duration_seconds_sum %.6f\n", st->duration_sum);
	put(&t, "r2k_build_duration_seconds_count %llu\n", (unsigned long long)st->duration_count);

	counter(&t, "r2k_context_bytes_received_total",
	        "Build context bytes received from clients, as sent.", st->context_bytes);
	counter(&t, "r2k_output_bytes_relayed_total", "Builder output bytes relayed to clients.",
	        st->output_bytes);

	help_type(&t, "r2k_check_results_total", "counter",
	          "Registry check results by kind and outcome.");
	for (int k = 0; k < METRICS_CHECK_KINDS; k++)
		for (int p = 1; p >= 0; p--)
			put(&t, "r2k_check_results_total{kind=\"%s\",result=\"%s\"} %llu\n",
			    check_kinds[k], p ? "passed" : "failed",
			    (unsigned long long)st->checks[k][p]);
	/* Listed once a check has reported (a family without samples is left out). */
	bool any_status = false;
	for (int k = 0; k < METRICS_CHECK_KINDS; k++)
		for (int c = 0; c < METRICS_CHECK_STATUSES; c++) {
			if (!st->check_statuses[k][c])
				continue;
			if (!any_status)
				help_type(&t, "r2k_check_statuses_total", "counter",
				          "Registry check results by kind and status.");
			any_status = true;
			put(&t, "r2k_check_statuses_total{kind=\"%s\",status=\"%s\"} %llu\n",
			    check_kinds[k], check_statuses[c],
			    (unsigned long long)st->check_statuses[k][c]);
		}

	help_type(&t, "r2k_active_builds", "gauge", "Builds holding a build slot now.");
	put(&t, "r2k_active_builds %u\n", r->active_builds);
	help_type(&t, "r2k_ready", "gauge", "1 when the runner would accept a build now.");
	put(&t, "r2k_ready %d\n", runner_ready(r) ? 1 : 0);

	help_type(&t, "r2k_request_buffer_bytes", "gauge",
	          "Memory held by requests still being received (legacy JSON lines; frames of r2k "
	          "connections without a build slot).");
	put(&t, "r2k_request_buffer_bytes %zu\n", r->recv_bytes);

	help_type(&t, "r2k_connections_total", "counter",
	          "Accepted connections by the protocol they spoke.");
	put(&t, "r2k_connections_total{protocol=\"r2k\"} %llu\n",
	    (unsigned long long)st->conns_r2k);
	put(&t, "r2k_connections_total{protocol=\"legacy\"} %llu\n",
	    (unsigned long long)st->conns_legacy);
	put(&t, "r2k_connections_total{protocol=\"http\"} %llu\n",
	    (unsigned long long)st->conns_http);
	put(&t, "r2k_connections_total{protocol=\"unknown\"} %llu\n",
	    (unsigned long long)st->conns_unknown);

	if (t.oom) {
		free(t.s);
		return NULL;
	}
	*len = t.len;
	return t.s;
}
