/* sockq.h: how much of what was written to a stream socket its peer has not read yet. */
#ifndef R2K_SOCKQ_H
#define R2K_SOCKQ_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Bytes written to the connected stream socket fd that the peer application
 * has not read yet, when that can be known: a unix socket counts what is
 * queued in the peer's receive queue; a TCP socket whose peer is on this host
 * (same network namespace) counts what is unacknowledged plus what the peer's
 * socket holds unread (sock_diag). *exact tells whether the answer covers the
 * peer's application; otherwise it is only what is not yet acknowledged
 * (0 meaning: it reached the peer's host). Returns -1 when fd cannot be
 * asked at all.
 */
long sockq_unread(int fd, bool *exact);

#endif
