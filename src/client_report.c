/* client_report.c: the client's messages, checks, output streams and exit reporting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "msg_client.h"
#include "roles.h"

static const char *error_name(unsigned code);
static int error_status(unsigned code);

/* Name of an ERROR code (docs/protocol.md, "Error codes"). */
static const char *error_name(unsigned code)
{
	static const char *const names[] = {NULL,        "PROTOCOL", "VERSION",   "REQUEST",
	                                    "CONTEXT",   "BUSY",     "PREFLIGHT", "BUILDER",
	                                    "CANCELLED", "INTERNAL", "SHUTDOWN"};
	return code < sizeof(names) / sizeof(names[0]) && names[code] ? names[code] : "UNKNOWN";
}

/* The client's exit status for an ERROR code. */
static int error_status(unsigned code)
{
	switch (code) {
	case R2K_ERR_PROTOCOL:
	case R2K_ERR_VERSION: return R2K_EXIT_PROTOCOL;
	case R2K_ERR_REQUEST:
	case R2K_ERR_BUSY:
	case R2K_ERR_PREFLIGHT:
	case R2K_ERR_SHUTDOWN: return R2K_EXIT_REFUSED;
	case R2K_ERR_CONTEXT: return R2K_EXIT_CONTEXT;
	case R2K_ERR_BUILDER:
	case R2K_ERR_INTERNAL: return R2K_EXIT_INTERNAL;
	case R2K_ERR_CANCELLED: return R2K_EXIT_CANCELLED;
	default: return R2K_EXIT_INTERNAL; /* a code newer than this client */
	}
}

/* Erase the progress line before other text goes to stderr. */
void client_clear_progress(struct client *c)
{
	if (!c->progress_shown)
		return;
	c->progress_shown = false;
	if (isatty(2))
		outq_write(&c->err, "\r\033[K", 4);
	else
		outq_write(&c->err, "\n", 1);
}

/*
 * Control characters from the runner (a message could carry terminal escape
 * sequences or fake "r2k:" lines) become '?' before they reach a terminal.
 */
static void clean_text(char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			s[i] = '?';
}

/* One line of r2k's own on stderr ("r2k: ..."), or a JSON log line with --json. */
void client_say(struct client *c, const char *level, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clean_text(msg, strlen(msg));
	if (c->json) {
		client_emit_json(c, msg_json_log(level, "client", msg, strlen(msg)));
		return;
	}
	char line[2200];
	int n;
	if (strcmp(level, "info") == 0)
		n = snprintf(line, sizeof(line), "r2k: %s\n", msg);
	else
		n = snprintf(line, sizeof(line), "r2k: %s: %s\n",
		             strcmp(level, "warn") == 0 ? "warning" : level, msg);
	if (n >= (int)sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	client_clear_progress(c);
	outq_write(&c->err, line, (size_t)n);
}

/* Queue one --json line on stdout; takes line. */
void client_emit_json(struct client *c, char *line)
{
	size_t n = strlen(line);
	outq_write(&c->out, line, n);
	outq_write(&c->out, "\n", 1);
	free(line);
}

/* Redraw the upload progress line. */
void client_progress_cb(uv_timer_t *t)
{
	struct client *c = t->data;
	if (!c->up || c->ended)
		return;
	double mib = (double)upload_bytes(c->up) / (1 << 20);
	double secs = (double)(client_now_ms(c) - c->upload_start_ms) / 1000.0;
	char line[160];
	int n = snprintf(line, sizeof(line), "\rr2k: sending context: %.1f MiB (%.1f MiB/s)%s", mib,
	                 secs > 0 ? mib / secs : 0.0, isatty(2) ? "\033[K" : "");
	outq_write(&c->err, line, (size_t)n);
	c->progress_shown = true;
}

/* Builder output: raw to our stdout/stderr, or JSON lines on stdout. */
void client_stream_output(struct client *c, int which, const uint8_t *data, size_t len)
{
	if (!c->json) {
		if (which == 1)
			client_clear_progress(c);
		outq_write(which == 0 ? &c->out : &c->err, data, len);
		return;
	}
	/* Keep an incomplete UTF-8 character at the end for the next frame. */
	uint8_t *joined = malloc(c->tail_len[which] + len + 1);
	if (!joined)
		abort();
	memcpy(joined, c->tail[which], c->tail_len[which]);
	if (len)
		memcpy(joined + c->tail_len[which], data, len);
	size_t n = c->tail_len[which] + len, keep = 0;
	c->tail_len[which] = 0;
	if (data) {
		for (size_t back = 1; back <= 3 && back <= n; back++) {
			uint8_t b = joined[n - back];
			if ((b & 0xc0) == 0x80)
				continue;
			size_t need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
			if (need > back)
				keep = back;
			break;
		}
	}
	if (keep) {
		memcpy(c->tail[which], joined + n - keep, keep);
		c->tail_len[which] = keep;
		n -= keep;
	}
	if (n)
		client_emit_json(c, msg_json_stream(which == 0 ? "stdout" : "stderr", joined, n));
	free(joined);
}

/* EXIT: the builder's status becomes ours. */
void client_handle_exit(struct client *c, const struct r2k_frame *f)
{
	struct r2k_exit e;
	if (r2k_exit_decode(f, &e) != 0) {
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		           "protocol error: malformed EXIT frame");
		return;
	}
	client_stream_output(c, 0, NULL, 0);
	client_stream_output(c, 1, NULL, 0);
	int status;
	bool sig = e.how == R2K_EXIT_SIGNAL;
	if (sig)
		status = 128 + (e.value & 0x7f);
	else
		status = e.value >= 0 && e.value <= 255 ? e.value : 1;
	if (c->cancelled && (sig || status != 0))
		status = 128 + c->cancel_sig;
	if (c->json) {
		client_emit_json(c, msg_json_exit(sig, e.value, e.digest, status));
	} else if (sig) {
		client_say(c, "error", "the builder was killed by signal %d (%s)", e.value,
		           e.value > 0 && e.value < 65 ? strsignal(e.value) : "unknown");
	} else if (e.value != 0) {
		client_say(c, "error", "the builder exited with status %d", e.value);
	} else if (e.digest[0]) {
		client_say(c, "info", "image digest %s", e.digest);
	}
	client_end(c, status, 0, NULL, NULL);
}

/* ERROR from the runner: print its message, map its code to our status. */
void client_handle_error(struct client *c, const struct r2k_frame *f)
{
	uint16_t code;
	const char *msg;
	size_t len;
	if (r2k_error_decode(f, &code, &msg, &len) != 0) {
		client_end(c, R2K_EXIT_PROTOCOL, 0, "PROTOCOL",
		           "protocol error: malformed ERROR frame");
		return;
	}
	int status = error_status(code);
	if (c->cancelled && (code == R2K_ERR_CANCELLED))
		status = 128 + c->cancel_sig;
	if (c->json) {
		client_emit_json(
		        c, msg_json_error(code, error_name(code), "runner", msg, len, status));
	} else {
		client_clear_progress(c);
		char line[1200];
		int n = snprintf(line, sizeof(line), "r2k: runner error %u (%s): %.*s\n", code,
		                 error_name(code), (int)(len > 1024 ? 1024 : len), msg);
		if (n > 0 && n < (int)sizeof(line))
			clean_text(line, (size_t)n - 1); /* not the final newline */
		outq_write(&c->err, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	client_end(c, status, 0, NULL, NULL);
}

/* LOG: one line on stderr (debug only with --verbose). */
void client_handle_log(struct client *c, const struct r2k_frame *f)
{
	static const char *const levels[] = {"error", "warn", "info", "debug"};
	uint8_t level;
	const char *msg;
	size_t len;
	if (r2k_log_decode(f, &level, &msg, &len) != 0)
		return;
	if (level > R2K_LOG_DEBUG)
		level = R2K_LOG_DEBUG;
	if (level == R2K_LOG_DEBUG && !c->verbose)
		return;
	if (c->json) {
		client_emit_json(c, msg_json_log(levels[level], "runner", msg, len));
		return;
	}
	client_say(c, levels[level], "%.*s", (int)(len > 1900 ? 1900 : len), msg);
}

/* CHECK: one line per registry check result. */
void client_handle_check(struct client *c, const struct r2k_frame *f)
{
	if (c->json) {
		char *line = msg_json_check((const char *)f->payload, f->len);
		if (line)
			client_emit_json(c, line);
		return;
	}
	struct check_result r;
	if (msg_check_decode((const char *)f->payload, f->len, &r) != 0) {
		client_say(c, "warn", "the runner sent a check result that is not a JSON object");
		return;
	}
	client_say(c, r.passed ? "info" : "error", "check %s %s: %s%s%s%s [%.0f ms]", r.kind,
	           r.target, r.passed ? "" : "FAILED ", r.status, r.detail[0] ? " - " : "",
	           r.detail, r.latency_ms);
}
