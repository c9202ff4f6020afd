/* checks_http.c: HTTP requests on a libcurl multi handle driven by the libuv loop (internal to
 * checks). */
#include "checks_http.h"

#include <assert.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lazylib.h"
#include "log.h"
#include "opts.h"

#define BODY_MAX (1u << 20)

/* One socket curl asked us to watch. */
struct sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct chttp *h;
	struct sock *prev, *next;
};

struct chttp {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	struct sock *socks;
	struct creq *reqs;
	unsigned handles;     /* open uv handles, including closing ones */
	unsigned dispatching; /* depth of calls into curl from our callbacks */
	bool closing, cleaned;
	void (*close_cb)(void *arg);
	void *close_arg;
};

struct creq {
	struct chttp *h;
	CURL *easy;
	struct curl_slist *hdrs;
	uv_timer_t backoff;
	creq_cb cb;
	void *arg;
	char *url;
	char method[8];
	long timeout_ms, backoff_ms;
	unsigned retries, attempts;
	bool in_multi, fail_pending, freed, truncated;
	void (*sink)(void *arg, const char *buf, size_t len);
	void *sink_arg;
	CURLcode code;
	char errbuf[CURL_ERROR_SIZE];
	long status;
	struct strlist names, values;
	char *body;
	size_t blen, bcap;
	struct creq *prev, *next;
};

/*
 * CA stores shared by every TLS connection with the same CA file and
 * directory. libcurl would build one per connection (its own cache serves
 * only connections without a CA directory, and SSL_CERT_DIR or Debian's
 * default set one), and building one means parsing every certificate of the
 * bundle: about 25 ms of the loop's time each, 0.4 s for sixteen registries
 * checked at once. With libcurl on OpenSSL each store is built once and
 * handed to the connections' SSL_CTX; elsewhere libcurl does as it does.
 */
struct ca_store {
	struct ca_store *next;
	char *file, *dir;     /* NULL: OpenSSL's default places */
	struct stat fst, dst; /* what they were when the store was built (st_ino 0: none) */
	X509_STORE *store;
};

static struct {
	bool tried, usable;
	void (*set1_cert_store)(void *ssl_ctx, X509_STORE *store); /* SSL_CTX_set1_cert_store */
	struct ca_store *stores;
} shared_ca;

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* What path is now, as far as a change to it matters (all 0 when it cannot be read). */
static void ca_stat(const char *path, struct stat *st)
{
	if (!path || stat(path, st) != 0)
		memset(st, 0, sizeof(*st));
}

static bool same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * The store for file and dir, built on first use and again once either
 * changed (a runner lives long: a CA taken out of a bundle is no longer
 * trusted, as the builder, which reads it anew, would not); NULL: let
 * libcurl load them.
 */
static struct ca_store *shared_ca_store(const char *file, const char *dir)
{
	if (!shared_ca.tried) {
		shared_ca.tried = true;
		const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
		/* libcurl's own libssl, loaded with it: asked for, not loaded anew. */
		void *ssl = v && v->ssl_version && strncmp(v->ssl_version, "OpenSSL/", 8) == 0
		                    ? dlopen("libssl.so.3", RTLD_NOW | RTLD_NOLOAD)
		                    : NULL;
		if (ssl) {
			*(void **)&shared_ca.set1_cert_store =
			        dlsym(ssl, "SSL_CTX_set1_cert_store");
			dlclose(ssl); /* it stays loaded: libcurl holds it */
		}
		shared_ca.usable = shared_ca.set1_cert_store != NULL;
	}
	if (!shared_ca.usable)
		return NULL;
	/*
	 * What libcurl would use: the given file, else the system's bundle, and
	 * the given directory, else the system's: a registry's CA file adds to
	 * the system's CAs (as Kaniko's --registry-certificate does), it does
	 * not replace them.
	 */
	const char *sfile = file ? file : X509_get_default_cert_file();
	const char *sdir = dir ? dir : X509_get_default_cert_dir();
	struct stat fst, dst;
	ca_stat(sfile, &fst);
	ca_stat(sdir, &dst);
	struct ca_store *c = shared_ca.stores;
	while (c && !(same(c->file, file) && same(c->dir, dir)))
		c = c->next;
	if (c && same_stat(&c->fst, &fst) && same_stat(&c->dst, &dst))
		return c->store ? c : NULL;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return NULL;
		c->file = file ? strdup(file) : NULL;
		c->dir = dir ? strdup(dir) : NULL;
		c->next = shared_ca.stores;
		shared_ca.stores = c;
	}
	/* Connections made with the old one hold their own reference to it. */
	X509_STORE_free(c->store);
	c->store = NULL;
	c->fst = fst;
	c->dst = dst;
	X509_STORE *st = X509_STORE_new();
	/* A file or directory given must load; the system's may be missing. */
	bool ok = st &&
	          (X509_STORE_load_file(st, sfile) == 1 || (!file && access(sfile, F_OK) != 0)) &&
	          (X509_STORE_load_path(st, sdir) == 1 || !dir);
	if (!ok) {
		/* libcurl then loads them itself, and says what is wrong with them. */
		X509_STORE_free(st);
		return NULL;
	}
	/* As libcurl sets on its own stores, and as Go (Kaniko) trusts a pool's
	 * certificates: any certificate of the file may end a chain. */
	X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN);
	c->store = st;
	return c;
}

static CURLcode set_shared_store(CURL *e, void *ssl_ctx, void *arg)
{
	struct ca_store *c = arg;
	(void)e;
	if (!c->store) /* rebuilt since, from a file that no longer loads */
		return CURLE_SSL_CACERT_BADFILE;
	shared_ca.set1_cert_store(ssl_ctx, c->store); /* takes a reference */
	return CURLE_OK;
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp);
static int timer_fn(CURLM *m, long timeout_ms, void *userp);
static void on_timer(uv_timer_t *t);
static void on_poll(uv_poll_t *p, int status, int events);
static void sock_close(struct sock *s);
static void on_sock_closed(uv_handle_t *hd);
static void dispatch(struct chttp *h, curl_socket_t fd, int flags);
static void drain(struct chttp *h);
static void finish(struct creq *r);
static bool retriable(CURLcode c);
static bool retriable_status(long st);
static void on_backoff(uv_timer_t *t);
static void attempt(struct creq *r);
static void handle_closed(struct chttp *h);
static void finish_close(struct chttp *h);
static void on_main_timer_closed(uv_handle_t *hd);
static void on_req_closed(uv_handle_t *hd);
static size_t on_header(char *buf, size_t size, size_t n, void *arg);
static size_t on_body(char *buf, size_t size, size_t n, void *arg);

struct chttp *chttp_new(uv_loop_t *loop)
{
	static bool global;
	if (!global) {
		char err[512];
		if (lib_curl_load(err, sizeof(err)) != 0) {
			log_error(0, "%s", err);
			return NULL;
		}
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return NULL;
		global = true;
	}
	struct chttp *h = calloc(1, sizeof(*h));
	if (!h)
		abort();
	h->loop = loop;
	h->multi = curl_multi_init();
	if (!h->multi) {
		free(h);
		return NULL;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->handles = 1;
	return h;
}

/* curl tells which events to watch on a socket, or that it is done with it. */
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct chttp *h = userp;
	struct sock *s = socketp;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			if (!h->closing)
				curl_multi_assign(h->multi, fd, NULL);
			sock_close(s);
		}
		return 0;
	}
	if (h->closing)
		return 0;
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			abort();
		s->fd = fd;
		s->h = h;
		if (uv_poll_init_socket(h->loop, &s->poll, fd)) {
			free(s);
			return -1;
		}
		s->poll.data = s;
		h->handles++;
		s->next = h->socks;
		if (h->socks)
			h->socks->prev = s;
		h->socks = s;
		curl_multi_assign(h->multi, fd, s);
	}
	int ev = 0;
	if (what & CURL_POLL_IN)
		ev |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		ev |= UV_WRITABLE;
	uv_poll_start(&s->poll, ev, on_poll);
	return 0;
}

/* Stop watching a socket and close its poll handle. */
static void sock_close(struct sock *s)
{
	struct chttp *h = s->h;
	if (s->prev)
		s->prev->next = s->next;
	else
		h->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, on_sock_closed);
}

/* Free a socket context once its handle is closed. */
static void on_sock_closed(uv_handle_t *hd)
{
	struct sock *s = hd->data;
	struct chttp *h = s->h;
	free(s);
	handle_closed(h);
}

/* curl asks for a timeout (-1: none). */
static int timer_fn(CURLM *m, long timeout_ms, void *userp)
{
	struct chttp *h = userp;
	if (timeout_ms < 0 || h->closing)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timer, (uint64_t)timeout_ms, 0);
	return 0;
}

/* curl's timeout expired. */
static void on_timer(uv_timer_t *t)
{
	dispatch(t->data, CURL_SOCKET_TIMEOUT, 0);
}

/* A watched socket is ready, or failed: the failure goes to curl as CURL_CSELECT_ERR. */
static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sock *s = p->data;
	int flags = 0;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	dispatch(s->h, s->fd, flags);
}

/* Let curl act on a socket or timeout, then hand out finished transfers. */
static void dispatch(struct chttp *h, curl_socket_t fd, int flags)
{
	int running;
	if (h->closing)
		return;
	h->dispatching++;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	drain(h);
	h->dispatching--;
	if (h->closing && !h->dispatching)
		finish_close(h);
}

/* Read every completion message; finish or retry each transfer. */
static void drain(struct chttp *h)
{
	CURLMsg *m;
	int left;
	while (!h->closing && (m = curl_multi_info_read(h->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		struct creq *r;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		r->code = m->data.result;
		curl_multi_remove_handle(h->multi, r->easy);
		r->in_multi = false;
		long st = 0;
		if (r->code == CURLE_OK)
			curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &st);
		bool again = (r->code == CURLE_OK ? retriable_status(st) : retriable(r->code)) &&
		             r->attempts <= r->retries;
		long delay = r->backoff_ms << (r->attempts - 1 > 10 ? 10 : r->attempts - 1);
		if (log_enabled(LOG_DEBUG)) {
			if (r->code == CURLE_OK)
				log_debug(0, "%s %s: HTTP %ld (attempt %u)%s", r->method, r->url,
				          st, r->attempts, again ? ", retrying" : "");
			else
				log_debug(0, "%s %s: %s (attempt %u)%s", r->method, r->url,
				          r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code),
				          r->attempts, again ? ", retrying" : "");
		}
		if (again) {
			uv_timer_start(&r->backoff, on_backoff, (uint64_t)delay, 0);
			continue;
		}
		finish(r);
	}
}

/* Connection-level failures worth another attempt (a connection cut mid-answer too). */
static bool retriable(CURLcode c)
{
	return c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_CONNECT ||
	       c == CURLE_OPERATION_TIMEDOUT || c == CURLE_GOT_NOTHING || c == CURLE_RECV_ERROR ||
	       c == CURLE_SEND_ERROR || c == CURLE_PARTIAL_FILE;
}

/*
 * Answers of a proxy or sidecar whose registry is not up yet (go-containerregistry
 * retries these too); every other HTTP answer is final.
 */
static bool retriable_status(long st)
{
	return st == 502 || st == 503 || st == 504;
}

/* Report a finished transfer to its owner. */
static void finish(struct creq *r)
{
	if (r->code == CURLE_OK)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	r->cb(r, r->arg);
}

/* The backoff delay is over: try again. */
static void on_backoff(uv_timer_t *t)
{
	struct creq *r = t->data;
	if (r->h->closing)
		return;
	if (r->fail_pending)
		finish(r);
	else
		attempt(r);
}

/* Reset the response and add the transfer to the multi handle. */
static void attempt(struct creq *r)
{
	strlist_free(&r->names);
	strlist_free(&r->values);
	r->blen = 0;
	r->truncated = false;
	if (r->sink)
		r->sink(r->sink_arg, NULL, 0);
	r->status = 0;
	r->errbuf[0] = '\0';
	r->attempts++;
	r->in_multi = true;
	if (curl_multi_add_handle(r->h->multi, r->easy) != CURLM_OK) {
		/* Reported like a failed connection, from the loop, never synchronously. */
		r->in_multi = false;
		r->code = CURLE_FAILED_INIT;
		r->fail_pending = true;
		uv_timer_start(&r->backoff, on_backoff, 0, 0);
	}
}

struct creq *creq_new(struct chttp *h, const char *method, const char *url, creq_cb cb, void *arg)
{
	assert(!h->closing);
	struct creq *r = calloc(1, sizeof(*r));
	if (!r)
		abort();
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->url = strdup(url);
	snprintf(r->method, sizeof(r->method), "%s", method);
	r->easy = curl_easy_init();
	if (!r->easy || !r->url)
		abort();
	r->timeout_ms = 10000;
	r->backoff_ms = 500;
	uv_timer_init(h->loop, &r->backoff);
	r->backoff.data = r;
	h->handles++;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prev = r;
	h->reqs = r;
	CURL *e = r->easy;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "r2k/" R2K_VERSION);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD")) {
		/* libcurl drops the Authorization header on the way to another host or port. */
		curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
		curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (!strcmp(method, "HEAD")) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(method, "POST")) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
	} else if (strcmp(method, "GET")) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	return r;
}

void creq_add_header(struct creq *r, const char *header)
{
	struct curl_slist *l = curl_slist_append(r->hdrs, header);
	if (!l)
		abort();
	r->hdrs = l;
}

void creq_set_tls(struct creq *r, const char *ca_file, const char *ca_dir, bool no_verify)
{
	struct ca_store *shared = no_verify ? NULL : shared_ca_store(ca_file, ca_dir);
	if (shared) {
		/* libcurl loads nothing itself; the connection gets the shared store. */
		curl_easy_setopt(r->easy, CURLOPT_CAINFO, NULL);
		curl_easy_setopt(r->easy, CURLOPT_CAPATH, NULL);
		curl_easy_setopt(r->easy, CURLOPT_SSL_CTX_FUNCTION, set_shared_store);
		curl_easy_setopt(r->easy, CURLOPT_SSL_CTX_DATA, shared);
		/* libcurl's own cache (7.87 on) keeps one store per multi handle,
		 * keyed by CURLOPT_CAINFO only, NULL for all of these: the store of
		 * the first connection would be handed to the next ones, whatever
		 * their CA file. */
		curl_easy_setopt(r->easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
	} else {
		if (ca_file)
			curl_easy_setopt(r->easy, CURLOPT_CAINFO, ca_file);
		if (ca_dir)
			curl_easy_setopt(r->easy, CURLOPT_CAPATH, ca_dir);
	}
	if (no_verify) {
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

void creq_set_limits(struct creq *r, long timeout_ms, unsigned retries, long backoff_ms)
{
	r->timeout_ms = timeout_ms;
	r->retries = retries;
	r->backoff_ms = backoff_ms;
}

void creq_set_sink(struct creq *r, void (*sink)(void *arg, const char *buf, size_t len), void *arg)
{
	r->sink = sink;
	r->sink_arg = arg;
	if (sink)
		sink(arg, NULL, 0);
}

int creq_start(struct creq *r)
{
	if (r->h->closing || r->in_multi || r->attempts)
		return -1;
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, r->timeout_ms);
	curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
	attempt(r);
	return 0;
}

void creq_free(struct creq *r)
{
	struct chttp *h = r->h;
	/* A second free (owner, then engine teardown) in one callback stack is a no-op. */
	if (r->freed)
		return;
	r->freed = true;
	if (r->in_multi && !h->cleaned)
		curl_multi_remove_handle(h->multi, r->easy);
	r->in_multi = false;
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
	if (r->prev)
		r->prev->next = r->next;
	else
		h->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	uv_timer_stop(&r->backoff);
	uv_close((uv_handle_t *)&r->backoff, on_req_closed);
}

/* Free a request once its timer is closed. */
static void on_req_closed(uv_handle_t *hd)
{
	struct creq *r = hd->data;
	struct chttp *h = r->h;
	strlist_free(&r->names);
	strlist_free(&r->values);
	free(r->body);
	free(r->url);
	free(r);
	handle_closed(h);
}

/* One uv handle fewer; the engine is freed after the last one. */
static void handle_closed(struct chttp *h)
{
	assert(h->handles > 0);
	if (--h->handles == 0 && h->closing) {
		void (*cb)(void *) = h->close_cb;
		void *arg = h->close_arg;
		free(h);
		if (cb)
			cb(arg);
	}
}

void chttp_close(struct chttp *h, void (*close_cb)(void *arg), void *arg)
{
	assert(!h->closing);
	h->closing = true;
	h->close_cb = close_cb;
	h->close_arg = arg;
	if (!h->dispatching)
		finish_close(h);
}

/* Tear down: requests, the multi handle, sockets, then the timer. */
static void finish_close(struct chttp *h)
{
	if (h->cleaned)
		return;
	while (h->reqs)
		creq_free(h->reqs);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	h->cleaned = true;
	while (h->socks)
		sock_close(h->socks);
	uv_timer_stop(&h->timer);
	uv_close((uv_handle_t *)&h->timer, on_main_timer_closed);
}

/* The engine's own timer is closed. */
static void on_main_timer_closed(uv_handle_t *hd)
{
	handle_closed(hd->data);
}

/* Keep response headers of the last response (a new status line starts over). */
static size_t on_header(char *buf, size_t size, size_t n, void *arg)
{
	struct creq *r = arg;
	size_t len = size * n;
	if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
		strlist_free(&r->names);
		strlist_free(&r->values);
		return len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon || r->names.n >= 256)
		return len;
	const char *v = colon + 1, *end = buf + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	char *name = strndup(buf, (size_t)(colon - buf));
	char *value = strndup(v, (size_t)(end - v));
	if (!name || !value)
		abort();
	strlist_push(&r->names, name);
	strlist_push(&r->values, value);
	free(name);
	free(value);
	return len;
}

/* Keep up to BODY_MAX bytes of the body; the sink sees all of it. */
static size_t on_body(char *buf, size_t size, size_t n, void *arg)
{
	struct creq *r = arg;
	size_t len = size * n;
	if (r->sink)
		r->sink(r->sink_arg, buf, len);
	if (r->blen + len > BODY_MAX) {
		r->truncated = true;
		return len;
	}
	if (r->blen + len + 1 > r->bcap) {
		r->bcap = (r->blen + len + 1) * 2;
		r->body = realloc(r->body, r->bcap);
		if (!r->body)
			abort();
	}
	memcpy(r->body + r->blen, buf, len);
	r->blen += len;
	r->body[r->blen] = '\0';
	return len;
}

enum creq_fail creq_failure(const struct creq *r)
{
	switch (r->code) {
	case CURLE_OK: return CREQ_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY: return CREQ_DNS;
	case CURLE_COULDNT_CONNECT: return CREQ_REFUSED;
	case CURLE_OPERATION_TIMEDOUT: return CREQ_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED: return CREQ_TLS;
	default: return CREQ_CONN;
	}
}

const char *creq_error(const struct creq *r)
{
	return r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->code);
}

bool creq_tls_unverified(const struct creq *r)
{
	return r->code == CURLE_PEER_FAILED_VERIFICATION;
}

long creq_status(const struct creq *r)
{
	return r->status;
}

const char *creq_header_n(const struct creq *r, const char *name, size_t i)
{
	for (size_t k = 0; k < r->names.n; k++)
		if (!strcasecmp(r->names.v[k], name) && i-- == 0)
			return r->values.v[k];
	return NULL;
}

const char *creq_header(const struct creq *r, const char *name)
{
	const char *last = NULL;
	for (size_t k = 0; k < r->names.n; k++)
		if (!strcasecmp(r->names.v[k], name))
			last = r->values.v[k];
	return last;
}

const char *creq_body(const struct creq *r, size_t *len)
{
	*len = r->blen;
	return r->body ? r->body : "";
}

bool creq_body_truncated(const struct creq *r)
{
	return r->truncated;
}

unsigned creq_attempts(const struct creq *r)
{
	return r->attempts;
}
const char *creq_url(const struct creq *r)
{
	return r->url;
}
