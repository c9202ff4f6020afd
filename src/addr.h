/* addr.h: parse listen and connect addresses: tcp://HOST:PORT, unix:///path. */
#ifndef R2K_ADDR_H
#define R2K_ADDR_H

#include <stddef.h>

enum addr_kind { ADDR_TCP, ADDR_UNIX };

struct r2k_addr {
	enum addr_kind kind;
	char host[256]; /* TCP: host name or address, brackets removed from IPv6 */
	char port[8];   /* TCP: decimal port */
	char path[108]; /* UNIX: socket path */
};

/*
 * Parse s. Accepted: tcp://HOST:PORT, tcp://[V6]:PORT, unix:///abs/path,
 * unix:relative/path, and bare HOST:PORT or :PORT (as the old runner's
 * -address took). Returns 0, or -1 with a reason in err.
 */
int addr_parse(const char *s, struct r2k_addr *a, char *err, size_t errlen);
/* Write a canonical form ("tcp://[::1]:9000") into out. */
void addr_format(const struct r2k_addr *a, char *out, size_t outlen);

#endif
