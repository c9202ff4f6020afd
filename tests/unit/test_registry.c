/* test_registry.c: registry keys, host matching, plain-HTTP rule and credential parsing. */
#include <stdlib.h>

#include "registry.h"
#include "t.h"

static const char *key(const char *given)
{
	static char out[256];
	if (registry_key(given, out, sizeof(out)))
		return "(error)";
	return out;
}

/* Docker Hub aliases share one key; other registries lose scheme, path and case. */
static void test_keys(void)
{
	CHECK_STR(key("docker.io"), "https://index.docker.io/v1/");
	CHECK_STR(key("index.docker.io"), "https://index.docker.io/v1/");
	CHECK_STR(key("registry-1.docker.io"), "https://index.docker.io/v1/");
	CHECK_STR(key("https://index.docker.io/v1/"), "https://index.docker.io/v1/");
	CHECK_STR(key("quay.io"), "quay.io");
	CHECK_STR(key("https://quay.io/v1/"), "quay.io");
	CHECK_STR(key("http://Registry.Example.com:5000/"), "registry.example.com:5000");
	CHECK_STR(key("127.0.0.1:5000"), "127.0.0.1:5000");
	CHECK_STR(key("[::1]:5000"), "[::1]:5000");
	CHECK_STR(key(""), "(error)");
	CHECK_STR(key("https://"), "(error)");
	/* Only host[:port]: DNS labels or an [IPv6] literal, a port from 1 to 65535. */
	CHECK_STR(key("[::ffff:127.0.0.1]:443"), "[::ffff:127.0.0.1]:443");
	CHECK_STR(key("my_host-1.example:65535"), "my_host-1.example:65535");
	const char *bad[] = {":5000",  "host:", "host:0", "host:65536", "host:123456", "a..b",
	                     ".a",     "a.",    "-a.b",   "a-.b",       "[::1",        "[zz::1]:5",
	                     "[::1]x", "::1",   "ho st",  "a\"b",       "a:5:6"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_STR(key(bad[i]), "(error)");
	char h[64];
	CHECK_EQ(registry_host("docker.io", h, sizeof(h)), 0);
	CHECK_STR(h, "registry-1.docker.io");
	CHECK_EQ(registry_host("https://ghcr.io/", h, sizeof(h)), 0);
	CHECK_STR(h, "ghcr.io");
	CHECK_EQ(registry_key("averyveryverylonghostname.example.com", h, 8), -1);
}

/* Matching treats aliases and forms as equal, ports as significant. */
static void test_match(void)
{
	CHECK(registry_host_match("docker.io", "https://index.docker.io/v1/"));
	CHECK(registry_host_match("registry-1.docker.io", "index.docker.io"));
	CHECK(registry_host_match("https://localhost:5000/", "localhost:5000"));
	CHECK(!registry_host_match("localhost:5000", "localhost:5001"));
	CHECK(!registry_host_match("localhost", "localhost:5000"));
	CHECK_EQ(registry_given_scheme("https://x"), REGISTRY_SCHEME_HTTPS);
	CHECK_EQ(registry_given_scheme("HTTP://x"), REGISTRY_SCHEME_HTTP);
	CHECK_EQ(registry_given_scheme("x"), REGISTRY_SCHEME_NONE);
}

/* go-containerregistry's rule for plain HTTP. */
static void test_plain_http(void)
{
	CHECK(registry_plain_http_by_default("localhost:5000"));
	CHECK(registry_plain_http_by_default("localhost"));
	CHECK(registry_plain_http_by_default("127.0.0.1:5000"));
	CHECK(registry_plain_http_by_default("127.1.2.3"));
	CHECK(registry_plain_http_by_default("[::1]:5000"));
	CHECK(registry_plain_http_by_default("10.1.2.3:80"));
	CHECK(registry_plain_http_by_default("172.16.0.1"));
	CHECK(registry_plain_http_by_default("172.31.255.1"));
	CHECK(!registry_plain_http_by_default("172.32.0.1"));
	CHECK(registry_plain_http_by_default("192.168.1.1:5000"));
	CHECK(registry_plain_http_by_default("myhost.local:5000"));
	CHECK(!registry_plain_http_by_default("quay.io"));
	CHECK(!registry_plain_http_by_default("8.8.8.8"));
	CHECK(!registry_plain_http_by_default("[2001:db8::1]:5000"));
}

/* HOST=FILE lookup and lists. */
static void test_lists(void)
{
	struct strlist l = {0};
	strlist_push(&l, "registry.example.com:5000=/etc/ca.pem");
	strlist_push(&l, "docker.io=/hub.pem");
	CHECK_STR(registry_lookup_kv(&l, "registry.example.com:5000"), "/etc/ca.pem");
	CHECK_STR(registry_lookup_kv(&l, "registry-1.docker.io"), "/hub.pem");
	CHECK(registry_lookup_kv(&l, "registry.example.com") == NULL);
	strlist_free(&l);
	strlist_push(&l, "https://index.docker.io/v1/");
	CHECK(registry_in_list(&l, "registry-1.docker.io"));
	CHECK(!registry_in_list(&l, "quay.io"));
	strlist_free(&l);
}

/* registry= starts a new entry; errors never show values. */
static void test_creds(void)
{
	struct strlist kv = {0};
	struct registry_cred *c = NULL;
	size_t n = 0;
	char err[256];
	strlist_push(&kv, "registry=docker.io");
	strlist_push(&kv, "username=u1");
	strlist_push(&kv, "password=p=1");
	strlist_push(&kv, "registry=localhost:5000");
	strlist_push(&kv, "auth=dTI6cDI=");
	strlist_push(&kv, "insecure=true");
	CHECK_EQ(registry_creds_parse(&kv, &c, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 2);
	CHECK_STR(c[0].password, "p=1");
	CHECK(!c[0].insecure && c[1].insecure);
	CHECK(registry_find_cred(c, n, "registry-1.docker.io") == &c[0]);
	CHECK(registry_find_cred(c, n, "http://localhost:5000") == &c[1]);
	CHECK(registry_find_cred(c, n, "localhost:5001") == NULL);
	/* Two entries for one registry: the last is used, as in config.json. */
	CHECK(registry_find_cred(c, n, "index.docker.io") == &c[0]);
	free(c[1].registry);
	c[1].registry = strdup("https://index.docker.io/v1/");
	CHECK(registry_find_cred(c, n, "docker.io") == &c[1]);
	char *b = registry_cred_basic(&c[0]);
	CHECK_STR(b, "dTE6cD0x"); /* u1:p=1 */
	free(b);
	b = registry_cred_basic(&c[1]);
	CHECK_STR(b, "dTI6cDI=");
	free(b);
	registry_creds_free(c, n);
	strlist_free(&kv);

	strlist_push(&kv, "username=secretuser");
	CHECK_EQ(registry_creds_parse(&kv, &c, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "registry=HOST must come first") != NULL);
	CHECK(strstr(err, "secretuser") == NULL);
	strlist_free(&kv);
	strlist_push(&kv, "registry=quay.io");
	strlist_push(&kv, "username=u");
	CHECK_EQ(registry_creds_parse(&kv, &c, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "quay.io") != NULL);
	strlist_free(&kv);
	strlist_push(&kv, "registry=quay.io");
	strlist_push(&kv, "token=abc");
	CHECK_EQ(registry_creds_parse(&kv, &c, &n, err, sizeof(err)), -1);
	CHECK(strstr(err, "unknown key 'token'") != NULL);
	strlist_free(&kv);
}

int main(void)
{
	RUN(test_keys);
	RUN(test_match);
	RUN(test_plain_http);
	RUN(test_lists);
	RUN(test_creds);
	return T_DONE();
}
