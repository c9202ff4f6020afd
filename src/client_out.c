/* client_out.c: ordered writes to stdout/stderr off the loop thread, never losing a byte. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "client.h"

#define OUTQ_IOV_MAX 16

struct outq_chunk {
	struct outq_chunk *next;
	size_t len, off;
	char data[];
};

static void kick(struct outq *q);
static void write_cb(uv_fs_t *req);
static void retry_cb(uv_timer_t *t);

void outq_init(struct outq *q, uv_loop_t *loop, int fd, void (*on_change)(struct outq *, void *),
               void *arg)
{
	memset(q, 0, sizeof(*q));
	q->loop = loop;
	q->fd = fd;
	q->on_change = on_change;
	q->arg = arg;
	uv_timer_init(loop, &q->retry);
	q->retry.data = q;
	q->req.data = q;
	/*
	 * A regular file or /dev/null never makes a writer wait for a reader:
	 * those are written from the loop itself. Pipes, terminals and sockets,
	 * which can block, are written from the thread pool.
	 */
	struct stat st;
	q->direct = fstat(fd, &st) == 0 &&
	            (S_ISREG(st.st_mode) ||
	             (S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 && minor(st.st_rdev) == 3));
}

void outq_write(struct outq *q, const void *data, size_t len)
{
	if (!len || q->broken)
		return;
	if (q->direct && !q->head && !q->busy && !uv_is_active((uv_handle_t *)&q->retry)) {
		const char *p = data;
		while (len) {
			ssize_t n = write(q->fd, p, len);
			if (n > 0) {
				p += n;
				len -= (size_t)n;
			} else if (n < 0 && errno == EINTR) {
				continue;
			} else {
				break; /* the queue takes the rest, and reports the failure */
			}
		}
		if (!len)
			return;
		data = p;
	}
	struct outq_chunk *c = malloc(sizeof(*c) + len);
	if (!c)
		abort();
	c->next = NULL;
	c->len = len;
	c->off = 0;
	memcpy(c->data, data, len);
	if (q->tail)
		q->tail->next = c;
	else
		q->head = c;
	q->tail = c;
	q->queued += len;
	kick(q);
}

bool outq_idle(const struct outq *q)
{
	return !q->busy && !q->head;
}

void outq_close(struct outq *q)
{
	if (!uv_is_closing((uv_handle_t *)&q->retry))
		uv_close((uv_handle_t *)&q->retry, NULL);
}

/* Start a write of up to OUTQ_IOV_MAX chunks in the thread pool (a blocking write there). */
static void kick(struct outq *q)
{
	if (q->busy || !q->head || uv_is_active((uv_handle_t *)&q->retry))
		return;
	uv_buf_t bufs[OUTQ_IOV_MAX];
	unsigned n = 0;
	for (struct outq_chunk *c = q->head; c && n < OUTQ_IOV_MAX; c = c->next)
		bufs[n++] = uv_buf_init(c->data + c->off, (unsigned)(c->len - c->off));
	q->inflight = n;
	if (uv_fs_write(q->loop, &q->req, q->fd, bufs, n, -1, write_cb) == 0)
		q->busy = true;
	else
		q->broken = true;
}

/* Drop everything queued (the fd is broken). */
static void drop_all(struct outq *q)
{
	while (q->head) {
		struct outq_chunk *c = q->head;
		q->head = c->next;
		free(c);
	}
	q->tail = NULL;
	q->queued = 0;
}

/* A write finished: consume what was written (maybe partly), then write the rest. */
static void write_cb(uv_fs_t *req)
{
	struct outq *q = req->data;
	ssize_t res = req->result;
	uv_fs_req_cleanup(req);
	q->busy = false;
	if (res == UV_EAGAIN || res == UV_EINTR) {
		/* Someone made the fd non-blocking: poll again shortly. */
		uv_timer_start(&q->retry, retry_cb, res == UV_EAGAIN ? 5 : 0, 0);
	} else if (res < 0) {
		q->broken = true;
		q->error = (int)res;
		drop_all(q);
	} else {
		size_t done = (size_t)res;
		q->queued -= done;
		while (done && q->head) {
			struct outq_chunk *c = q->head;
			size_t left = c->len - c->off;
			if (done < left) {
				c->off += done;
				break;
			}
			done -= left;
			q->head = c->next;
			if (!q->head)
				q->tail = NULL;
			free(c);
		}
		kick(q);
	}
	if (q->on_change)
		q->on_change(q, q->arg);
}

static void retry_cb(uv_timer_t *t)
{
	struct outq *q = t->data;
	uv_timer_stop(t);
	kick(q);
}
