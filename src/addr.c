/* addr.c: address parsing shared by the client (connect) and the runner (listen). */
#include "addr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int addr_parse(const char *s, struct r2k_addr *a, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (strncmp(s, "unix:", 5) == 0) {
		const char *p = s + 5;
		if (strncmp(p, "//", 2) == 0)
			p += 2;
		if (!*p) {
			snprintf(err, errlen, "address '%s': empty socket path", s);
			return -1;
		}
		if (strlen(p) >= sizeof(a->path)) {
			snprintf(err, errlen, "address '%s': socket path longer than %zu bytes", s,
			         sizeof(a->path) - 1);
			return -1;
		}
		a->kind = ADDR_UNIX;
		strcpy(a->path, p);
		return 0;
	}
	const char *hp = s;
	if (strncmp(s, "tcp://", 6) == 0)
		hp = s + 6;
	else if (strstr(s, "://")) {
		snprintf(err, errlen, "address '%s': unknown scheme (use tcp:// or unix://)", s);
		return -1;
	}
	a->kind = ADDR_TCP;
	const char *colon;
	if (*hp == '[') {
		const char *rb = strchr(hp, ']');
		if (!rb || rb[1] != ':') {
			snprintf(err, errlen, "address '%s': expected [IPv6]:PORT", s);
			return -1;
		}
		if ((size_t)(rb - hp - 1) >= sizeof(a->host)) {
			snprintf(err, errlen, "address '%s': host too long", s);
			return -1;
		}
		memcpy(a->host, hp + 1, (size_t)(rb - hp - 1));
		colon = rb + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon) {
			snprintf(err, errlen, "address '%s': expected HOST:PORT", s);
			return -1;
		}
		if ((size_t)(colon - hp) >= sizeof(a->host)) {
			snprintf(err, errlen, "address '%s': host too long", s);
			return -1;
		}
		memcpy(a->host, hp, (size_t)(colon - hp));
		if (memchr(a->host, ':', strlen(a->host))) {
			snprintf(err, errlen, "address '%s': put IPv6 addresses in brackets", s);
			return -1;
		}
	}
	const char *port = colon + 1;
	char *end;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || pn < 0 || pn > 65535) {
		snprintf(err, errlen, "address '%s': port must be a number from 0 to 65535", s);
		return -1;
	}
	snprintf(a->port, sizeof(a->port), "%ld", pn);
	if (!a->host[0])
		strcpy(a->host, "0.0.0.0");
	return 0;
}

void addr_format(const struct r2k_addr *a, char *out, size_t outlen)
{
	if (a->kind == ADDR_UNIX)
		snprintf(out, outlen, "unix://%s", a->path);
	else if (strchr(a->host, ':'))
		snprintf(out, outlen, "tcp://[%s]:%s", a->host, a->port);
	else
		snprintf(out, outlen, "tcp://%s:%s", a->host, a->port);
}
