/* runner_listen.c: the runner's listening sockets (--listen, or systemd's) and accepting. */
#include "runner.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "sdact.h"

/* A listening socket: from --listen, or handed over by systemd. */
struct runner_listener {
	union {
		uv_handle_t h;
		uv_stream_t s;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} u;
	struct runner *r;
	bool is_pipe;
	bool from_systemd; /* never unlinked or shut down by us */
	bool open;
	char path[108]; /* unix socket path we created, to unlink on exit */
	dev_t dev;      /* and its identity, so that a successor's socket is left alone */
	ino_t ino;
	char name[160]; /* for logs */
};

static uv_stream_t *new_stream(struct runner *r, bool is_pipe);
static void stream_closed(uv_handle_t *h);
static void on_connection(uv_stream_t *server, int status);
static int socket_in_use(const char *path);
static int bind_unix(const char *path);
static int listen_addr(struct runner *r, struct runner_listener *l, const char *spec);
static int adopt_fd(struct runner *r, struct runner_listener *l, const struct sdact_fd *fd,
                    bool *is_connection);

/* Free a stream handle once it is closed. */
static void stream_closed(uv_handle_t *h)
{
	free(h);
}

/* Create the stream handle for an accepted connection; freed by whoever closes it. */
static uv_stream_t *new_stream(struct runner *r, bool is_pipe)
{
	uv_stream_t *s;
	if (is_pipe) {
		uv_pipe_t *p = malloc(sizeof(*p));
		if (!p || uv_pipe_init(r->loop, p, 0) != 0) {
			free(p);
			return NULL;
		}
		s = (uv_stream_t *)p;
	} else {
		uv_tcp_t *t = malloc(sizeof(*t));
		if (!t || uv_tcp_init(r->loop, t) != 0) {
			free(t);
			return NULL;
		}
		uv_tcp_nodelay(t, 1);
		s = (uv_stream_t *)t;
	}
	return s;
}

static void on_connection(uv_stream_t *server, int status)
{
	struct runner_listener *l = server->data;
	struct runner *r = l->r;
	if (status < 0) {
		log_warn(0, "accept on %s: %s", l->name, uv_strerror(status));
		return;
	}
	uv_stream_t *s = new_stream(r, l->is_pipe);
	if (!s) {
		log_error(0, "accept on %s: out of memory", l->name);
		return;
	}
	if (uv_accept(server, s) != 0) {
		uv_close((uv_handle_t *)s, stream_closed);
		return;
	}
	runner_sniff(r, s);
}

/* Whether a process accepts connections on the unix socket at path (else it is stale). */
static int socket_in_use(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path)) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	close(fd);
	/* Refused: nobody listens. A full backlog (EAGAIN) still means someone does. */
	return rc == 0 || e == EAGAIN;
}

/* A unix stream socket bound to path: its fd, or a negative libuv error. */
static int bind_unix(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return UV_ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

/* Bind one --listen address. */
static int listen_addr(struct runner *r, struct runner_listener *l, const char *spec)
{
	struct r2k_addr a;
	char err[256];
	int rc;
	if (addr_parse(spec, &a, err, sizeof(err)) != 0) {
		fprintf(stderr, "r2k runner: --listen: %s\n", err);
		return -1;
	}
	addr_format(&a, l->name, sizeof(l->name));
	l->r = r;
	if (a.kind == ADDR_UNIX) {
		l->is_pipe = true;
		uv_pipe_init(r->loop, &l->u.pipe, 0);
		l->open = true;
		/*
		 * A stale socket file from an earlier run is replaced; one that a
		 * live process still listens on, or anything else, is not.
		 */
		struct stat st;
		if (lstat(a.path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode)) {
				fprintf(stderr,
				        "r2k runner: --listen %s: exists and is not a socket\n",
				        spec);
				return -1;
			}
			if (socket_in_use(a.path)) {
				fprintf(stderr,
				        "r2k runner: --listen %s: another process is listening on "
				        "it\n",
				        spec);
				return -1;
			}
			unlink(a.path);
		}
		/* Bound here, not with uv_pipe_bind: libuv would unlink the path on close. */
		int fd = bind_unix(a.path);
		if (fd < 0 || (rc = uv_pipe_open(&l->u.pipe, fd)) != 0) {
			fprintf(stderr, "r2k runner: --listen %s: %s\n", spec,
			        uv_strerror(fd < 0 ? fd : rc));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		snprintf(l->path, sizeof(l->path), "%s", a.path);
		if (lstat(a.path, &st) == 0) {
			l->dev = st.st_dev;
			l->ino = st.st_ino;
		}
		unsigned long mode =
		        strtoul(r->cfg->unix_mode ? r->cfg->unix_mode : "0660", NULL, 8);
		if (chmod(a.path, (mode_t)mode) != 0) {
			fprintf(stderr, "r2k runner: chmod %s: %s\n", a.path, strerror(errno));
			return -1;
		}
	} else {
		struct addrinfo hints = {0}, *res = NULL;
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		if ((rc = getaddrinfo(a.host, a.port, &hints, &res)) != 0) {
			fprintf(stderr, "r2k runner: --listen %s: %s\n", spec, gai_strerror(rc));
			return -1;
		}
		uv_tcp_init(r->loop, &l->u.tcp);
		l->open = true;
		rc = uv_tcp_bind(&l->u.tcp, res->ai_addr, 0);
		freeaddrinfo(res);
		if (rc != 0) {
			fprintf(stderr, "r2k runner: --listen %s: %s\n", spec, uv_strerror(rc));
			return -1;
		}
	}
	l->u.h.data = l;
	if ((rc = uv_listen(&l->u.s, 128, on_connection)) != 0) {
		fprintf(stderr, "r2k runner: --listen %s: %s\n", spec, uv_strerror(rc));
		return -1;
	}
	if (a.kind == ADDR_TCP) {
		/* Report the real port, which matters with port 0. */
		struct sockaddr_storage ss;
		int len = sizeof(ss);
		char host[64];
		if (uv_tcp_getsockname(&l->u.tcp, (struct sockaddr *)&ss, &len) == 0) {
			int port;
			if (ss.ss_family == AF_INET6) {
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
				uv_ip6_name(s6, host, sizeof(host));
				port = ntohs(s6->sin6_port);
				snprintf(l->name, sizeof(l->name), "tcp://[%s]:%d", host, port);
			} else {
				struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
				uv_ip4_name(s4, host, sizeof(host));
				port = ntohs(s4->sin_port);
				snprintf(l->name, sizeof(l->name), "tcp://%s:%d", host, port);
			}
		}
	}
	log_info(0, "listening on %s", l->name);
	return 0;
}

/* Wrap a socket systemd gave us; a connected one (Accept=yes) is served as a connection. */
static int adopt_fd(struct runner *r, struct runner_listener *l, const struct sdact_fd *fd,
                    bool *is_connection)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int accepting = 0;
	socklen_t alen = sizeof(accepting);
	int rc;

	*is_connection = false;
	if (getsockname(fd->fd, (struct sockaddr *)&ss, &len) != 0) {
		fprintf(stderr, "r2k runner: descriptor %d from systemd is not a socket: %s\n",
		        fd->fd, strerror(errno));
		return -1;
	}
	int type = 0;
	socklen_t tlen = sizeof(type);
	if (getsockopt(fd->fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6 && ss.ss_family != AF_UNIX)) {
		fprintf(stderr,
		        "r2k runner: descriptor %d from systemd is not a TCP or unix stream socket "
		        "(the socket unit needs ListenStream=)\n",
		        fd->fd);
		return -1;
	}
	if (getsockopt(fd->fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &alen) != 0)
		accepting = 1;
	bool is_pipe = ss.ss_family == AF_UNIX;
	if (!accepting) {
		/* Accept=yes: one connected socket, one build. */
		uv_stream_t *s = new_stream(r, is_pipe);
		if (!s)
			return -1;
		rc = is_pipe ? uv_pipe_open((uv_pipe_t *)s, fd->fd)
		             : uv_tcp_open((uv_tcp_t *)s, fd->fd);
		if (rc != 0) {
			fprintf(stderr, "r2k runner: descriptor %d: %s\n", fd->fd, uv_strerror(rc));
			uv_close((uv_handle_t *)s, stream_closed);
			return -1;
		}
		*is_connection = true;
		r->passed_conn = true;
		log_info(0, "serving connection %d passed by systemd", fd->fd);
		runner_sniff(r, s);
		return 0;
	}
	l->r = r;
	l->is_pipe = is_pipe;
	l->from_systemd = true;
	snprintf(l->name, sizeof(l->name), "systemd socket %d%s%s", fd->fd, fd->name[0] ? " " : "",
	         fd->name);
	if (is_pipe) {
		uv_pipe_init(r->loop, &l->u.pipe, 0);
		rc = uv_pipe_open(&l->u.pipe, fd->fd);
	} else {
		uv_tcp_init(r->loop, &l->u.tcp);
		rc = uv_tcp_open(&l->u.tcp, fd->fd);
	}
	l->open = true;
	l->u.h.data = l;
	if (rc == 0)
		rc = uv_listen(&l->u.s, 128, on_connection);
	if (rc != 0) {
		fprintf(stderr, "r2k runner: %s: %s\n", l->name, uv_strerror(rc));
		return -1;
	}
	log_info(0, "listening on %s", l->name);
	return 0;
}

int runner_open_listeners(struct runner *r)
{
	const struct runner_config *cfg = r->cfg;
	struct sdact_fd *fds = NULL;
	char err[256];
	int nfds = sdact_listen_fds(&fds, err, sizeof(err));
	if (nfds < 0) {
		fprintf(stderr, "r2k runner: %s\n", err);
		return -1;
	}
	size_t want = nfds > 0 ? (size_t)nfds : (cfg->listen.n ? cfg->listen.n : 1);
	r->listeners = calloc(want, sizeof(*r->listeners));
	if (!r->listeners)
		return -1;
	int rc = 0;
	if (nfds > 0) {
		if (cfg->listen.n)
			log_warn(0, "socket-activated: ignoring --listen");
		for (int i = 0; i < nfds && rc == 0; i++) {
			bool conn;
			rc = adopt_fd(r, &r->listeners[r->nlisteners], &fds[i], &conn);
			if (rc == 0 && !conn)
				r->nlisteners++;
		}
		free(fds);
		return rc;
	}
	for (size_t i = 0; i < want && rc == 0; i++) {
		const char *spec = cfg->listen.n ? cfg->listen.v[i] : "tcp://127.0.0.1:9000";
		rc = listen_addr(r, &r->listeners[i], spec);
		r->nlisteners++;
	}
	return rc;
}

void runner_close_listeners(struct runner *r)
{
	for (size_t i = 0; i < r->nlisteners; i++) {
		struct runner_listener *l = &r->listeners[i];
		if (!l->open)
			continue;
		l->open = false;
		uv_close(&l->u.h, NULL);
		struct stat st;
		/* Only the socket file we created: another runner may have replaced it. */
		if (l->path[0] && !l->from_systemd && lstat(l->path, &st) == 0 &&
		    st.st_dev == l->dev && st.st_ino == l->ino)
			unlink(l->path);
	}
}
