/* standin.c: the benchmarks' stand-in builder (and reference listener), built by bench.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 4096 /* bytes per write, as stdio's full buffering on a pipe would write */

/* Read /proc/PID/NAME into buf (NUL-terminated): its length, or -1. */
static ssize_t read_proc(int pid, const char *name, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, cap - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return n;
}

/* User + system CPU seconds of process pid so far (all its threads), or -1. */
static double cpu_seconds(int pid)
{
	char buf[1024];
	if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
		return -1;
	/* pid (comm) state ppid ... utime stime: fields 14 and 15, after the comm. */
	char *p = strrchr(buf, ')');
	unsigned long long ut, st;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/*
 * The runner: our parent, or its parent when the parent is the runner's
 * per-build reaper ("r2k __reap ...").
 */
static int runner_pid(void)
{
	int ppid = getppid(), gp;
	char buf[256];
	ssize_t n = read_proc(ppid, "cmdline", buf, sizeof(buf));
	size_t a0 = n > 0 ? strlen(buf) : 0;
	if (n <= 0 || (size_t)n <= a0 + 1 || strcmp(buf + a0 + 1, "__reap") != 0)
		return ppid;
	if (read_proc(ppid, "stat", buf, sizeof(buf)) < 0)
		return ppid;
	char *p = strrchr(buf, ')');
	return p && sscanf(p + 2, "%*c %d", &gp) == 1 ? gp : ppid;
}

/*
 * Append to the file named by R2K_BENCH_STAMP the CLOCK_MONOTONIC time of
 * this exec and the CPU seconds the runner has used so far.
 */
static void stamp(void)
{
	struct timespec ts;
	const char *path = getenv("R2K_BENCH_STAMP");
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (!path || !*path)
		return;
	char line[96];
	int n = snprintf(line, sizeof(line), "%lld.%09ld %.3f\n", (long long)ts.tv_sec, ts.tv_nsec,
	                 cpu_seconds(runner_pid()));
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, (size_t)n) != n)
			perror("stamp");
		close(fd);
	}
}

/* Write all of buf to fd. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Write total bytes of log-like lines, whole lines in blocks of about BLOCK
 * bytes, alternately to stdout and stderr.
 */
static int output(unsigned long long total)
{
	static const char *words[] = {
	        "INFO",    "WARN",      "step",    "RUN",     "COPY",
	        "layer",   "sha256",    "apt-get", "install", "--no-install-recommends",
	        "python3", "Unpacking", "Setting", "up",      "libssl3",
	        "done",    "cache",     "miss",    "pushing", "blob"};
	size_t cap = 1u << 20, n = 0;
	char *pool = malloc(cap + 256);
	unsigned seed = 12345;
	if (!pool)
		return 1;
	/* A pool of varied lines (20 to 140 bytes), generated once. */
	for (unsigned line = 0; n < cap; line++) {
		n += (size_t)sprintf(pool + n, "%s[%04u] ", (line % 7) ? "INFO" : "WARN",
		                     line % 10000);
		unsigned nw = 2 + (seed = seed * 1103515245u + 12345u) % 20;
		for (unsigned w = 0; w < nw && n < cap; w++)
			n += (size_t)sprintf(pool + n, "%s ",
			                     words[(seed = seed * 1103515245u + 12345u) % 20]);
		pool[n - 1] = '\n';
	}
	size_t off = 0;
	int fd = 1;
	while (total > 0) {
		size_t len = BLOCK;
		if (off + len > n)
			off = 0;
		/* End the block at a line end. */
		while (off + len < n && pool[off + len - 1] != '\n')
			len++;
		if (len > total)
			len = (size_t)total;
		if (write_all(fd, pool + off, len) != 0)
			return 1;
		total -= len;
		off += len;
		fd = fd == 1 ? 2 : 1;
	}
	free(pool);
	return 0;
}

/* Reference listener: accept one connection on 127.0.0.1:port, answer one HTTP request. */
static int listen_once(int port)
{
	static const char answer[] =
	        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((unsigned short)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(s, 16) != 0) {
		perror("listen");
		return 2;
	}
	int c = accept(s, NULL, NULL);
	char buf[4096];
	if (c < 0 || read(c, buf, sizeof(buf)) < 0 || write_all(c, answer, sizeof(answer) - 1))
		return 1;
	/* Stay up (idle) until killed, as the runner does. */
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	stamp();
	if (argc == 3 && strcmp(argv[1], "--listen-once") == 0)
		return listen_once(atoi(argv[2]));
	const char *out = getenv("R2K_BENCH_OUTPUT");
	if (out && *out)
		return output(strtoull(out, NULL, 10));
	return 0;
}
