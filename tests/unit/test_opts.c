/* test_opts.c: option parsing (forms, repeats, --no-X, errors), addresses and request JSON. */
#include <stdio.h>
#include <unistd.h>

#include "addr.h"
#include "cli.h"
#include "msg.h"
#include "t.h"

/* Parse a NULL-terminated argument list into a runner config; stderr goes to /dev/null. */
static int parse_runner(struct runner_config *c, const char **args)
{
	char *argv[32];
	int argc = 0;
	argv[argc++] = "runner";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	cli_runner_defaults(c);
	fflush(stderr);
	FILE *saved = stderr;
	stderr = fopen("/dev/null", "w");
	int rc = opts_parse(&cli_runner_cmd, argc, argv, c);
	fclose(stderr);
	stderr = saved;
	return rc;
}

static void test_forms(void)
{
	struct runner_config c;
	const char *a[] = {"--listen",
	                   "tcp://127.0.0.1:1",
	                   "--listen=unix:///tmp/x",
	                   "-l",
	                   "tcp://[::1]:2",
	                   "-address=:3",
	                   "-multiple",
	                   "--max-builds=7",
	                   "--idle-timeout",
	                   "250ms",
	                   "--max-context-bytes",
	                   "2G",
	                   "-v",
	                   NULL};
	CHECK_EQ(parse_runner(&c, a), 0);
	/* -address collects apart (it changes the idle default); validation joins the two. */
	CHECK_EQ(c.listen.n, 3);
	CHECK_STR(c.listen.v[1], "unix:///tmp/x");
	CHECK_EQ(c.address.n, 1);
	CHECK_STR(c.address.v[0], ":3");
	CHECK(c.multiple);
	CHECK_EQ(c.max_builds, 7);
	CHECK(c.idle_timeout > 0.249 && c.idle_timeout < 0.251);
	CHECK_EQ(c.max_context_bytes, 2ull << 30);
	CHECK(c.verbose);
	cli_runner_free(&c);

	const char *b[] = {"--multiple", "--no-multiple", "--warm=true", NULL};
	CHECK_EQ(parse_runner(&c, b), 0);
	CHECK(!c.multiple);
	CHECK(c.warm);
	cli_runner_free(&c);
}

static void test_errors(void)
{
	struct runner_config c;
	const char *unknown[] = {"--bogus", NULL};
	CHECK_EQ(parse_runner(&c, unknown), 2);
	cli_runner_free(&c);
	const char *missing[] = {"--listen", NULL};
	CHECK_EQ(parse_runner(&c, missing), 2);
	cli_runner_free(&c);
	const char *badnum[] = {"--max-builds", "lots", NULL};
	CHECK_EQ(parse_runner(&c, badnum), 2);
	cli_runner_free(&c);
	const char *negval[] = {"--no-multiple=1", NULL};
	CHECK_EQ(parse_runner(&c, negval), 2);
	cli_runner_free(&c);
	/* Only options marked for it take a single dash. */
	const char *single[] = {"-listen=x", NULL};
	CHECK_EQ(parse_runner(&c, single), 2);
	cli_runner_free(&c);
	const char *positional[] = {"extra", NULL};
	CHECK_EQ(parse_runner(&c, positional), 2);
	cli_runner_free(&c);
}

static void test_sizes(void)
{
	uint64_t v;
	CHECK_EQ(opts_parse_size("10", &v), 0);
	CHECK_EQ(v, 10);
	CHECK_EQ(opts_parse_size("4KiB", &v), 0);
	CHECK_EQ(v, 4096);
	CHECK_EQ(opts_parse_size("1M", &v), 0);
	CHECK_EQ(v, 1 << 20);
	CHECK(opts_parse_size("-1", &v) != 0);
	CHECK(opts_parse_size("1X", &v) != 0);
	CHECK(opts_parse_size("99999999999T", &v) != 0);
	double s;
	CHECK_EQ(opts_parse_seconds("1.5", &s), 0);
	CHECK(s == 1.5);
	CHECK_EQ(opts_parse_seconds("2m", &s), 0);
	CHECK(s == 120);
	CHECK(opts_parse_seconds("soon", &s) != 0);
}

static void test_addr(void)
{
	struct r2k_addr a;
	char err[256], out[160];
	CHECK_EQ(addr_parse("tcp://127.0.0.1:9000", &a, err, sizeof(err)), 0);
	CHECK(a.kind == ADDR_TCP);
	CHECK_STR(a.host, "127.0.0.1");
	CHECK_STR(a.port, "9000");
	CHECK_EQ(addr_parse("tcp://[::1]:80", &a, err, sizeof(err)), 0);
	CHECK_STR(a.host, "::1");
	addr_format(&a, out, sizeof(out));
	CHECK_STR(out, "tcp://[::1]:80");
	CHECK_EQ(addr_parse(":8080", &a, err, sizeof(err)), 0);
	CHECK_STR(a.host, "0.0.0.0");
	CHECK_EQ(addr_parse("unix:///run/r2k.sock", &a, err, sizeof(err)), 0);
	CHECK(a.kind == ADDR_UNIX);
	CHECK_STR(a.path, "/run/r2k.sock");
	CHECK(addr_parse("http://x:1", &a, err, sizeof(err)) != 0);
	CHECK(strstr(err, "scheme") != NULL);
	CHECK(addr_parse("tcp://host", &a, err, sizeof(err)) != 0);
	CHECK(addr_parse("tcp://host:99999", &a, err, sizeof(err)) != 0);
	CHECK(addr_parse("tcp://::1:80", &a, err, sizeof(err)) != 0);
	CHECK(addr_parse("unix://", &a, err, sizeof(err)) != 0);
}

static void test_request_roundtrip(void)
{
	struct build_request r, back;
	char err[256];
	msg_request_init(&r);
	strlist_push(&r.destinations, "localhost:5000/a:1");
	strlist_push(&r.build_args, "MSG=a b=c \"q\"\nnext");
	strlist_push(&r.labels, "k=v");
	r.dockerfile = strdup("sub/Dockerfile");
	r.push = false;
	r.cache_repo = strdup("localhost:5000/cache");
	r.cache_insecure = true;
	struct registry_cred c = {"docker.io", "u", "p:with:colons", NULL, false};
	msg_request_add_cred(&r, &c);
	char *json = msg_request_encode(&r);
	CHECK(json != NULL);
	CHECK_EQ(msg_request_decode(json, strlen(json), &back, err, sizeof(err)), 0);
	CHECK_STR(back.destinations.v[0], "localhost:5000/a:1");
	CHECK_STR(back.build_args.v[0], "MSG=a b=c \"q\"\nnext");
	CHECK_STR(back.dockerfile, "sub/Dockerfile");
	CHECK(!back.push);
	CHECK(back.cache_insecure);
	CHECK_EQ(back.ncreds, 1);
	CHECK_STR(back.creds[0].password, "p:with:colons");
	free(json);
	msg_request_free(&r);
	msg_request_free(&back);
	const char *spaced = " {\"push\":false}\r\n\t ";
	CHECK_EQ(msg_request_decode(spaced, strlen(spaced), &back, err, sizeof(err)), 0);
	CHECK(!back.push);
	msg_request_free(&back);

	const char *bad[][2] = {
	        {"[1]", "JSON object"},
	        {"{\"push\":\"yes\"}", "'push'"},
	        {"{\"build_args\":[\"NOEQUALS\"]}", "build_args[0]"},
	        {"{\"credentials\":[{\"username\":\"u\",\"password\":\"p\"}]}", "no registry"},
	        {"{\"credentials\":[{\"registry\":\"r\",\"username\":\"u\"}]}", "needs username"},
	        {"{not json", "not valid JSON"},
	        {"{\"push\":false} {\"push\":true}", "data after the object"},
	        {"{\"push\":false}x", "data after the object"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(msg_request_decode(bad[i][0], strlen(bad[i][0]), &back, err, sizeof(err)),
		         -1);
		CHECK(strstr(err, bad[i][1]) != NULL);
	}
}

int main(void)
{
	RUN(test_forms);
	RUN(test_errors);
	RUN(test_sizes);
	RUN(test_addr);
	RUN(test_request_roundtrip);
	return T_DONE();
}
