/* sdact.h: systemd socket activation (LISTEN_FDS) and readiness notification (NOTIFY_SOCKET). */
#ifndef R2K_SDACT_H
#define R2K_SDACT_H

#include <stddef.h>

#define SDACT_FIRST_FD 3

struct sdact_fd {
	int fd;
	char name[64]; /* from LISTEN_FDNAMES, or "" */
};

/*
 * Take the sockets systemd passed to this process: checks LISTEN_PID, reads
 * LISTEN_FDS and LISTEN_FDNAMES, sets FD_CLOEXEC on each descriptor and
 * removes the three variables from the environment (so no child sees them);
 * also takes NOTIFY_SOCKET out of the environment for sdact_notify.
 * Returns the number of descriptors (0 when not socket-activated) and a
 * malloc'd array in *out, or -1 with a reason in err.
 */
int sdact_listen_fds(struct sdact_fd **out, char *err, size_t errlen);
/* Send a state string ("READY=1") to NOTIFY_SOCKET if it was set; silently nothing otherwise. */
void sdact_notify(const char *state);

#endif
