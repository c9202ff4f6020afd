/* sdact.c: the two pieces of the systemd protocol the runner needs, without libsystemd. */
#include "sdact.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *notify_path(void);

/*
 * NOTIFY_SOCKET, taken out of the environment on first use so that no child
 * (the builder) can talk to the service manager in our name.
 */
static const char *notify_path(void)
{
	static char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	static bool taken;
	if (!taken) {
		const char *p = getenv("NOTIFY_SOCKET");
		taken = true;
		if (p && strlen(p) < sizeof(path))
			snprintf(path, sizeof(path), "%s", p);
		unsetenv("NOTIFY_SOCKET");
	}
	return path;
}

int sdact_listen_fds(struct sdact_fd **out, char *err, size_t errlen)
{
	const char *pid_s = getenv("LISTEN_PID");
	const char *fds_s = getenv("LISTEN_FDS");
	const char *names_s = getenv("LISTEN_FDNAMES");
	char *names = names_s ? strdup(names_s) : NULL;
	int n = 0;

	*out = NULL;
	(void)notify_path();
	if (!pid_s || !fds_s)
		goto done;
	char *end;
	long pid = strtol(pid_s, &end, 10);
	if (*end || pid != (long)getpid())
		goto done; /* meant for another process */
	long nfds = strtol(fds_s, &end, 10);
	if (*end || nfds < 0 || nfds > 1024) {
		snprintf(err, errlen, "LISTEN_FDS='%s' is not a valid descriptor count", fds_s);
		n = -1;
		goto done;
	}
	if (nfds == 0)
		goto done;
	struct sdact_fd *fds = calloc((size_t)nfds, sizeof(*fds));
	if (!fds) {
		snprintf(err, errlen, "out of memory");
		n = -1;
		goto done;
	}
	/* Names are colon-separated, one per descriptor; an empty one stays empty. */
	char *rest = names;
	for (long i = 0; i < nfds; i++) {
		fds[i].fd = SDACT_FIRST_FD + (int)i;
		int fl = fcntl(fds[i].fd, F_GETFD);
		if (fl < 0 || fcntl(fds[i].fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			snprintf(err, errlen, "socket-activation descriptor %d: %s", fds[i].fd,
			         strerror(errno));
			free(fds);
			n = -1;
			goto done;
		}
		char *tok = rest ? strsep(&rest, ":") : NULL;
		if (tok)
			snprintf(fds[i].name, sizeof(fds[i].name), "%s", tok);
	}
	*out = fds;
	n = (int)nfds;
done:
	free(names);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return n;
}

void sdact_notify(const char *state)
{
	const char *path = notify_path();
	struct sockaddr_un sa;
	if (!*path)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}
