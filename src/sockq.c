/* sockq.c: how much of what was written to a stream socket its peer has not read yet. */
#include "sockq.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static long peer_rqueue(int family, const void *peer, int pport, const void *self, int sport);
static long tcp_peer_unread(const struct sockaddr_storage *self,
                            const struct sockaddr_storage *peer);

/*
 * Ask the kernel (sock_diag) for the receive queue of the TCP socket whose
 * local end is peer:pport and remote end self:sport. Addresses are 4 or 16
 * bytes in network order, ports in host order. Returns the unread byte count,
 * or -1 when there is no such socket here or the kernel does not tell.
 */
static long peer_rqueue(int family, const void *peer, int pport, const void *self, int sport)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg;
	union {
		struct nlmsghdr nlh;
		char buf[1024];
	} ans;
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 1};
	size_t alen = family == AF_INET ? 4 : 16;
	long rq = -1;

	memset(&msg, 0, sizeof(msg));
	msg.nlh.nlmsg_len = sizeof(msg);
	msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	msg.nlh.nlmsg_flags = NLM_F_REQUEST;
	msg.req.sdiag_family = (unsigned char)family;
	msg.req.sdiag_protocol = IPPROTO_TCP;
	msg.req.idiag_states = ~0u;
	msg.req.id.idiag_sport = htons((uint16_t)pport);
	msg.req.id.idiag_dport = htons((uint16_t)sport);
	memcpy(msg.req.id.idiag_src, peer, alen);
	memcpy(msg.req.id.idiag_dst, self, alen);
	msg.req.id.idiag_cookie[0] = msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;

	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -1;
	setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		goto out;
	ssize_t n = recv(nl, &ans, sizeof(ans), 0);
	if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct inet_diag_msg)) ||
	    ans.nlh.nlmsg_type != SOCK_DIAG_BY_FAMILY || ans.nlh.nlmsg_len > (size_t)n)
		goto out; /* NLMSG_ERROR: no such socket in this network namespace */
	const struct inet_diag_msg *m = NLMSG_DATA(&ans.nlh);
	rq = (long)m->idiag_rqueue;
out:
	close(nl);
	return rq;
}

/* The peer's unread bytes for a TCP connection self <-> peer, or -1 when not known. */
static long tcp_peer_unread(const struct sockaddr_storage *self,
                            const struct sockaddr_storage *peer)
{
	if (self->ss_family == AF_INET && peer->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)self, *p = (const void *)peer;
		return peer_rqueue(AF_INET, &p->sin_addr, ntohs(p->sin_port), &s->sin_addr,
		                   ntohs(s->sin_port));
	}
	if (self->ss_family != AF_INET6 || peer->ss_family != AF_INET6)
		return -1;
	const struct sockaddr_in6 *s = (const void *)self, *p = (const void *)peer;
	int sport = ntohs(s->sin6_port), pport = ntohs(p->sin6_port);
	long rq = peer_rqueue(AF_INET6, &p->sin6_addr, pport, &s->sin6_addr, sport);
	/* A dual-stack listener sees an IPv4 client as ::ffff:a.b.c.d. */
	if (rq < 0 && IN6_IS_ADDR_V4MAPPED(&s->sin6_addr) && IN6_IS_ADDR_V4MAPPED(&p->sin6_addr))
		rq = peer_rqueue(AF_INET, p->sin6_addr.s6_addr + 12, pport,
		                 s->sin6_addr.s6_addr + 12, sport);
	return rq;
}

long sockq_unread(int fd, bool *exact)
{
	struct sockaddr_storage self, peer;
	socklen_t slen = sizeof(self), plen = sizeof(peer);
	int outq = 0;

	*exact = false;
	if (getsockname(fd, (struct sockaddr *)&self, &slen) != 0 ||
	    ioctl(fd, SIOCOUTQ, &outq) != 0)
		return -1;
	/* A unix stream socket's send queue holds what the peer has not read yet. */
	if (self.ss_family == AF_UNIX) {
		*exact = true;
		return outq;
	}
	if (outq > 0)
		return outq;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) != 0)
		return -1;
	long rq = tcp_peer_unread(&self, &peer);
	if (rq < 0)
		return 0; /* acknowledged; what the peer's application did is not known */
	*exact = true;
	return rq;
}
