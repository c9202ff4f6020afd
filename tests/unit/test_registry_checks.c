/* test_registry_checks.c: the checks API on a real loop: results, done, cancel and close anywhere.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>
#include <uv.h>

#include "checks.h"
#include "msg_registry.h"
#include "t.h"

/* A loopback HTTP server that answers every request with 200 (or never). */
struct server {
	uv_tcp_t tcp;
	bool silent;
	int port;
};

struct conn {
	uv_tcp_t tcp;
	struct server *srv;
};

struct state {
	struct checks *c;
	int results, done, closed;
	int close_after; /* close from inside the n-th result callback (0: from done) */
	char kinds[16][32];
};

static const char answer[] = "HTTP/1.1 200 OK\r\nDocker-Distribution-Api-Version: registry/2.0\r\n"
                             "Docker-Content-Digest: sha256:"
                             "abababababababababababababababababababababababababababababababab\r\n"
                             "Content-Length: 0\r\n\r\n";

static void on_conn_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	static char buf[4096];
	b->base = buf;
	b->len = sizeof(buf);
}

static void on_written(uv_write_t *w, int status)
{
	free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
	struct conn *cn = s->data;
	if (n < 0) {
		uv_close((uv_handle_t *)s, on_conn_closed);
		return;
	}
	if (cn->srv->silent || n == 0)
		return;
	uv_write_t *w = malloc(sizeof(*w));
	uv_buf_t out = uv_buf_init((char *)answer, sizeof(answer) - 1);
	uv_write(w, s, &out, 1, on_written);
}

static void on_connection(uv_stream_t *l, int status)
{
	struct server *srv = l->data;
	struct conn *cn = calloc(1, sizeof(*cn));
	cn->srv = srv;
	uv_tcp_init(l->loop, &cn->tcp);
	cn->tcp.data = cn;
	if (uv_accept(l, (uv_stream_t *)&cn->tcp) == 0)
		uv_read_start((uv_stream_t *)&cn->tcp, on_alloc, on_read);
	else
		uv_close((uv_handle_t *)&cn->tcp, on_conn_closed);
}

static void server_start(uv_loop_t *loop, struct server *srv, bool silent)
{
	struct sockaddr_in a;
	int len = sizeof(a);
	srv->silent = silent;
	uv_tcp_init(loop, &srv->tcp);
	srv->tcp.data = srv;
	uv_ip4_addr("127.0.0.1", 0, &a);
	CHECK_EQ(uv_tcp_bind(&srv->tcp, (struct sockaddr *)&a, 0), 0);
	CHECK_EQ(uv_listen((uv_stream_t *)&srv->tcp, 64, on_connection), 0);
	uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&a, &len);
	srv->port = ntohs(a.sin_port);
}

static void on_closed(void *arg)
{
	((struct state *)arg)->closed++;
}

static void on_result(struct checks *c, const struct check_result *r, void *arg)
{
	struct state *st = arg;
	if (st->results < 16)
		snprintf(st->kinds[st->results], sizeof(st->kinds[0]), "%s", r->kind);
	st->results++;
	if (st->close_after && st->results == st->close_after)
		checks_close(c, on_closed, st);
}

static void on_done(struct checks *c, void *arg)
{
	struct state *st = arg;
	st->done++;
	checks_close(c, on_closed, st);
}

/* Close the test server's connections; anything else still open is a leak of the checks. */
static void close_walk(uv_handle_t *h, void *arg)
{
	if (uv_is_closing(h))
		return;
	if (h->type == UV_TCP) {
		uv_close(h, on_conn_closed);
	} else {
		(*(int *)arg)++;
		uv_close(h, NULL);
	}
}

/* Close the test server's handles and check that nothing else is left. */
static void finish_loop(uv_loop_t *loop, struct server *srv)
{
	int leftovers = 0;
	uv_close((uv_handle_t *)&srv->tcp, NULL);
	uv_walk(loop, close_walk, &leftovers);
	CHECK_EQ(leftovers, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(loop), 0);
}

static struct checks *start(uv_loop_t *loop, struct state *st)
{
	struct checks_opts o;
	checks_opts_init(&o);
	o.timeout = 5;
	o.retries = 0;
	st->c = checks_new(loop, &o, on_result, on_done, st);
	CHECK(st->c != NULL);
	return st->c;
}

/* Results arrive, done fires once, closing from done leaves no handle behind. */
static void test_results_and_done(void)
{
	uv_loop_t loop;
	struct server srv;
	struct state st = {0};
	char target[64], err[256];
	uv_loop_init(&loop);
	server_start(&loop, &srv, false);
	struct checks *c = start(&loop, &st);
	snprintf(target, sizeof(target), "127.0.0.1:%d/a/b:c", srv.port);
	CHECK_EQ(checks_add_image(c, target, false, err, sizeof(err)), 0);
	CHECK_EQ(checks_add_image(c, "Not/Valid", false, err, sizeof(err)), -1);
	CHECK_EQ(st.results, 0); /* never from inside an add */
	CHECK_EQ(checks_pending(c), 2);
	while (!st.closed)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(st.results, 3);
	CHECK_STR(st.kinds[0], "reachability");
	CHECK_STR(st.kinds[1], "auth");
	CHECK_STR(st.kinds[2], "manifest");
	CHECK_EQ(st.done, 1);
	finish_loop(&loop, &srv);
}

/* Closing while requests hang: no callbacks, everything freed. */
static void test_close_in_flight(void)
{
	uv_loop_t loop;
	struct server srv;
	struct state st = {0};
	char target[64], err[256];
	uv_loop_init(&loop);
	server_start(&loop, &srv, true);
	struct checks *c = start(&loop, &st);
	snprintf(target, sizeof(target), "127.0.0.1:%d", srv.port);
	CHECK_EQ(checks_add_registry(c, target, err, sizeof(err)), 0);
	snprintf(target, sizeof(target), "127.0.0.1:%d/x:y", srv.port);
	CHECK_EQ(checks_add_push(c, target, err, sizeof(err)), 0);
	for (int i = 0; i < 20; i++)
		uv_run(&loop, UV_RUN_NOWAIT);
	checks_close(c, on_closed, &st);
	while (!st.closed)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(st.results, 0);
	CHECK_EQ(st.done, 0);
	finish_loop(&loop, &srv);
}

/* Closing from inside a result callback stops every later callback. */
static void test_close_from_result(void)
{
	uv_loop_t loop;
	struct server srv;
	struct state st = {.close_after = 1};
	char target[64], err[256];
	uv_loop_init(&loop);
	server_start(&loop, &srv, false);
	struct checks *c = start(&loop, &st);
	for (int i = 0; i < 4; i++) {
		snprintf(target, sizeof(target), "127.0.0.1:%d/img%d", srv.port, i);
		CHECK_EQ(checks_add_image(c, target, false, err, sizeof(err)), 0);
	}
	while (!st.closed)
		uv_run(&loop, UV_RUN_ONCE);
	CHECK_EQ(st.results, 1);
	CHECK_EQ(st.done, 0);
	CHECK_EQ(st.closed, 1);
	finish_loop(&loop, &srv);
}

/* Kaniko's cache layout: DIR/DIGEST (fresh), DIR/DIGEST.json. */
static void test_cache_dir(void)
{
	char dir[] = "/tmp/r2k-cachedir-XXXXXX", path[256], detail[512];
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	CHECK(mkdtemp(dir) != NULL);
	CHECK_EQ(checks_cache_dir_has(dir, d, 3600, detail, sizeof(detail)), 0);
	CHECK(strstr(detail, "not in") != NULL);
	snprintf(path, sizeof(path), "%s/%s", dir, d);
	fclose(fopen(path, "w"));
	CHECK_EQ(checks_cache_dir_has(dir, d, 3600, detail, sizeof(detail)), 1);
	CHECK(strstr(detail, "no manifest") != NULL);
	struct utimbuf old = {.actime = 1000, .modtime = 1000};
	utime(path, &old);
	CHECK_EQ(checks_cache_dir_has(dir, d, 3600, detail, sizeof(detail)), 0);
	CHECK(strstr(detail, "stale") != NULL);
	CHECK_EQ(checks_cache_dir_has(dir, "../../etc/passwd", 3600, detail, sizeof(detail)), -1);
	CHECK_EQ(checks_cache_dir_has("/nonexistent-r2k", d, 3600, detail, sizeof(detail)), 0);
	CHECK(strstr(detail, "does not exist yet") != NULL);
	unlink(path);
	rmdir(dir);
}

/* The streaming tag count agrees with cJSON's, whatever the chunk size. */
static void test_tags_stream(void)
{
	static const char *const docs[] = {
	        "{\"name\":\"a/b\",\"tags\":[\"x\",\"y\",\"z\"]}",
	        " {\"tags\" : [ \"a\\\"]\" , \"b,c\" ], \"name\":\"tags\"}\n",
	        "{\"name\":\"[\\\"tags\\\"]\",\"tags\":null}",
	        "{\"other\":{\"tags\":[\"no\"]},\"tags\":[\"yes\"],\"x\":[\"n\"]}",
	        "{\"tagsx\":[\"no\"],\"tag\":[\"no\"]}",
	        "{\"tags\":[]}",
	};
	static const long want[] = {3, 2, 0, 1, 0, 0};
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct msg_tags_stream t;
		CHECK_EQ(msg_tags_count(docs[i], strlen(docs[i])), want[i]);
		msg_tags_stream_reset(&t);
		msg_tags_stream_feed(&t, docs[i], strlen(docs[i]));
		CHECK_EQ(msg_tags_stream_count(&t), want[i]);
		msg_tags_stream_reset(&t);
		for (const char *p = docs[i]; *p; p++)
			msg_tags_stream_feed(&t, p, 1);
		CHECK_EQ(msg_tags_stream_count(&t), want[i]);
	}
	static const char *const bad[] = {"",     "[\"a\"]", "{\"tags\":[\"a\"", "{\"tags\":[\"a]}",
	                                  "{} x", "{}{}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct msg_tags_stream t;
		msg_tags_stream_reset(&t);
		msg_tags_stream_feed(&t, bad[i], strlen(bad[i]));
		CHECK_EQ(msg_tags_stream_count(&t), -1);
	}
}

int main(void)
{
	RUN(test_results_and_done);
	RUN(test_close_in_flight);
	RUN(test_close_from_result);
	RUN(test_cache_dir);
	RUN(test_tags_stream);
	return T_DONE();
}
