/* test_creds.c: registry keys, config.json rendering and the private file creds_write makes. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "creds.h"
#include "t.h"

static void test_keys(void);
static void test_render(void);
static void test_long_and_colon(void);
static void test_refused(void);
static void test_write(void);

static void test_keys(void)
{
	char k[256];
	static const char *const hub[] = {"docker.io",
	                                  "index.docker.io",
	                                  "registry-1.docker.io",
	                                  "https://index.docker.io/v1/",
	                                  "Docker.IO",
	                                  "https://registry-1.docker.io/"};
	for (size_t i = 0; i < sizeof(hub) / sizeof(hub[0]); i++) {
		CHECK_EQ(creds_registry_key(hub[i], k, sizeof(k)), 0);
		CHECK_STR(k, "https://index.docker.io/v1/");
	}
	CHECK_EQ(creds_registry_key("registry.example:5000", k, sizeof(k)), 0);
	CHECK_STR(k, "registry.example:5000");
	CHECK_EQ(creds_registry_key("https://registry.example:5000/v1/", k, sizeof(k)), 0);
	CHECK_STR(k, "registry.example:5000");
	CHECK_EQ(creds_registry_key("http://127.0.0.1:5000/", k, sizeof(k)), 0);
	CHECK_STR(k, "127.0.0.1:5000");
	CHECK_EQ(creds_registry_key("quay.io/team/app", k, sizeof(k)), 0);
	CHECK_STR(k, "quay.io");
	CHECK_EQ(creds_registry_key("[::1]:5000", k, sizeof(k)), 0);
	CHECK_STR(k, "[::1]:5000");
	CHECK_EQ(creds_registry_key("", k, sizeof(k)), -1);
	CHECK_EQ(creds_registry_key("https://", k, sizeof(k)), -1);
	CHECK_EQ(creds_registry_key("bad\"host", k, sizeof(k)), -1);
	CHECK_EQ(creds_registry_key("registry.example", k, 4), -1);
}

static void test_render(void)
{
	char err[256];
	struct registry_cred c[3] = {
	        {.registry = "docker.io", .username = "u", .password = "p"},
	        {.registry = "https://reg.example:5000/", .auth = "dXNlcjpwdw=="},
	        {.registry = "reg.example:5000", .username = "ci", .password = "s3cret"},
	};
	char *t = creds_render(c, 3, err, sizeof(err));
	CHECK(t != NULL);
	/* base64("u:p") = dTpw, base64("ci:s3cret") = Y2k6czNjcmV0; the later reg.example wins. */
	CHECK_STR(t, "{\"auths\": {\"https://index.docker.io/v1/\": {\"auth\": \"dTpw\"}, "
	             "\"reg.example:5000\": {\"auth\": \"Y2k6czNjcmV0\"}}}\n");
	creds_free_text(t);
	t = creds_render(NULL, 0, err, sizeof(err));
	CHECK_STR(t, "{\"auths\": {}}\n");
	creds_free_text(t);
}

static void test_long_and_colon(void)
{
	char err[256];
	size_t n = 6000;
	char *pw = malloc(n + 1);
	memset(pw, 'x', n);
	pw[0] = ':';
	pw[n] = 0;
	struct registry_cred c = {.registry = "r.example", .username = "user", .password = pw};
	char *t = creds_render(&c, 1, err, sizeof(err));
	CHECK(t != NULL);
	CHECK(t && strchr(t, '\n') == t + strlen(t) - 1); /* one line: no wrapping */
	/* Decode the auth value back and compare. */
	const char *a = t ? strstr(t, "\"auth\": \"") : NULL;
	CHECK(a != NULL);
	if (a) {
		a += 9;
		size_t len = strcspn(a, "\"");
		unsigned char *raw = malloc(len);
		int got = EVP_DecodeBlock(raw, (const unsigned char *)a, (int)len);
		CHECK(got >= (int)(n + 5));
		CHECK(memcmp(raw, "user:", 5) == 0 && memcmp(raw + 5, pw, n) == 0);
		free(raw);
	}
	creds_free_text(t);
	free(pw);
}

static void test_refused(void)
{
	char err[256];
	struct registry_cred c1 = {.registry = "r.example", .username = "u"};
	CHECK(creds_render(&c1, 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "credentials[0] (r.example)") != NULL);
	struct registry_cred c2 = {.registry = NULL, .auth = "eA=="};
	CHECK(creds_render(&c2, 1, err, sizeof(err)) == NULL);
	struct registry_cred c3 = {.registry = "r.example", .auth = "not base64!"};
	CHECK(creds_render(&c3, 1, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not base64") != NULL && strstr(err, "not base64!") == NULL);
	/* Base64 that config.json cannot use: unpadded, padding inside, no "user:" in it. */
	static const char *const bad[] = {"SECRET", "dTpw=", "dT=w", "U2VjcmV0Mg==", "====", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct registry_cred c = {.registry = "r.example", .auth = (char *)bad[i]};
		char *out = creds_render(&c, 1, err, sizeof(err));
		CHECK(out == NULL);
		free(out);
		if (bad[i][0])
			CHECK(strstr(err, "not base64 of \"username:password\"") != NULL);
	}
	/* "u:p", "ci:s3cret", ":" (padded twice), "ab:c" (padded once). */
	static const char *const good[] = {"dTpw", "Y2k6czNjcmV0", "Og==", "YWI6Yw=="};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct registry_cred c = {.registry = "r.example", .auth = (char *)good[i]};
		char *out = creds_render(&c, 1, err, sizeof(err));
		CHECK(out != NULL && strstr(out, good[i]) != NULL);
		creds_free_text(out);
	}
}

static void test_write(void)
{
	char tmpl[] = "/tmp/r2k-test-creds-XXXXXX", path[256], err[256], buf[512];
	CHECK(mkdtemp(tmpl) != NULL);
	snprintf(path, sizeof(path), "%s/docker", tmpl);
	struct registry_cred c = {.registry = "127.0.0.1:5000", .username = "a", .password = "b"};
	CHECK_EQ(creds_write(path, &c, 1, err, sizeof(err)), 0);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0700);
	snprintf(buf, sizeof(buf), "%s/config.json", path);
	CHECK_EQ(stat(buf, &st), 0);
	CHECK_EQ(st.st_mode & 07777, 0600);
	FILE *f = fopen(buf, "r");
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	buf[n] = 0;
	if (f)
		fclose(f);
	CHECK_STR(buf, "{\"auths\": {\"127.0.0.1:5000\": {\"auth\": \"YTpi\"}}}\n");
	snprintf(buf, sizeof(buf), "%s/config.json", path);
	CHECK_EQ(unlink(buf), 0);
	CHECK_EQ(rmdir(path), 0);
	/* A refused credential creates nothing. */
	struct registry_cred bad = {.registry = "x.example"};
	CHECK_EQ(creds_write(path, &bad, 1, err, sizeof(err)), -1);
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(rmdir(tmpl), 0);
}

int main(void)
{
	RUN(test_keys);
	RUN(test_render);
	RUN(test_long_and_colon);
	RUN(test_refused);
	RUN(test_write);
	return T_DONE();
}
