/* test_imageref.c: image reference normalisation and registry-or-image detection. */
#include "imageref.h"
#include "t.h"

static struct imageref r;
static char err[256];

static int parse(const char *s)
{
	return imageref_parse(s, &r, err, sizeof(err));
}

/* Docker Hub short names become registry-1.docker.io/library/NAME:latest. */
static void test_hub(void)
{
	CHECK_EQ(parse("busybox"), 0);
	CHECK_STR(r.registry, "registry-1.docker.io");
	CHECK_STR(r.repo, "library/busybox");
	CHECK_STR(r.tag, "latest");
	CHECK_STR(imageref_ref(&r), "latest");
	CHECK_EQ(parse("jupyter/base-notebook:2024-01"), 0);
	CHECK_STR(r.registry, "registry-1.docker.io");
	CHECK_STR(r.repo, "jupyter/base-notebook");
	CHECK_STR(r.tag, "2024-01");
	CHECK_EQ(parse("docker.io/ubuntu:22.04"), 0);
	CHECK_STR(r.repo, "library/ubuntu");
	CHECK_EQ(parse("index.docker.io/library/ubuntu"), 0);
	CHECK_STR(r.registry, "registry-1.docker.io");
	CHECK_STR(r.repo, "library/ubuntu");
}

/* Registries, ports, digests. */
static void test_registry(void)
{
	CHECK_EQ(parse("localhost:5000/a/b:1.0"), 0);
	CHECK_STR(r.registry, "localhost:5000");
	CHECK_STR(r.repo, "a/b");
	CHECK_STR(r.tag, "1.0");
	CHECK_EQ(parse("localhost/x"), 0);
	CHECK_STR(r.registry, "localhost");
	CHECK_EQ(parse("quay.io/org/"
	               "img@sha256:"
	               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	         0);
	CHECK_STR(r.registry, "quay.io");
	CHECK_STR(r.tag, "");
	CHECK_STR(imageref_ref(&r),
	          "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	CHECK_EQ(parse("127.0.0.1:5000/"
	               "img:t@sha256:"
	               "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
	         0);
	CHECK_STR(r.tag, "t");
	CHECK(r.digest[0] == 's');
	char out[512];
	imageref_format(&r, out, sizeof(out));
	CHECK_STR(out,
	          "127.0.0.1:5000/"
	          "img:t@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
	CHECK_EQ(parse("[::1]:5000/img"), 0);
	CHECK_STR(r.registry, "[::1]:5000");
}

/* Bad references are refused with a reason. */
static void test_invalid(void)
{
	CHECK_EQ(parse(""), -1);
	CHECK_EQ(parse("Busybox"), -1);
	CHECK_EQ(parse("busybox:"), -1);
	CHECK_EQ(parse("busybox:bad!tag"), -1);
	CHECK_EQ(parse("busybox@sha256:short"), -1);
	CHECK_EQ(parse("https://quay.io/x"), -1);
	CHECK(strstr(err, "scheme") != NULL);
	CHECK_EQ(parse("a//b"), -1);
	CHECK_EQ(parse("a/b/"), -1);
}

/* TARGET classification in r2k check. */
static void test_is_registry(void)
{
	CHECK(imageref_is_registry("localhost:5000"));
	CHECK(imageref_is_registry("localhost"));
	CHECK(imageref_is_registry("quay.io"));
	CHECK(imageref_is_registry("127.0.0.1:5000"));
	CHECK(imageref_is_registry("https://127.0.0.1:5000"));
	CHECK(imageref_is_registry("myhost:5000/"));
	CHECK(imageref_is_registry("[::1]:5000"));
	CHECK(!imageref_is_registry("busybox"));
	CHECK(!imageref_is_registry("busybox:1"));
	CHECK(!imageref_is_registry("localhost:5000/img"));
	CHECK(!imageref_is_registry("quay.io/a/b"));
	CHECK(!imageref_is_registry("localhostx"));
}

int main(void)
{
	RUN(test_hub);
	RUN(test_registry);
	RUN(test_invalid);
	RUN(test_is_registry);
	return T_DONE();
}
