/* test_dockerfile.c: base images from FROM lines with ARG substitution and stage names. */
#include "dockerfile.h"
#include "t.h"

static struct strlist imgs, args;
static char err[256];
static const char *platform;

static int run(const char *text)
{
	strlist_free(&imgs);
	return dockerfile_base_images(text, &args, platform, &imgs, err, sizeof(err));
}

/* Multi-stage: stage names in any case and scratch are skipped, duplicates folded. */
static void test_stages(void)
{
	CHECK_EQ(run("FROM golang:1.22 AS Build\n"
	             "RUN go build\n"
	             "from build as test\n"
	             "FROM BUILD\n"
	             "FROM scratch\n"
	             "FROM Scratch AS final\n"
	             "FROM golang:1.22\n"
	             "FROM final\n"
	             "FROM "
	             "alpine@sha256:"
	             "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"),
	         0);
	CHECK_EQ(imgs.n, 2);
	CHECK_STR(imgs.v[0], "golang:1.22");
	CHECK_STR(imgs.v[1],
	          "alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
}

/* Global ARG defaults, build-arg overrides, nested defaults, stage-local ARGs ignored. */
static void test_args(void)
{
	const char *df = "# syntax=docker/dockerfile:1\n"
	                 "ARG BASE=debian\n"
	                 "ARG TAG\n"
	                 "ARG REG=localhost:5000 OTHER=\"quoted value\"\n"
	                 "ARG EMPTY=\n"
	                 "FROM $BASE:${TAG:-bookworm}\n"
	                 "ARG LATE=nope\n"
	                 "FROM ${REG}/${UNSET:-${BASE}}-slim:${LATE:-x}\n"
	                 "FROM ${EMPTY:-e1} AS a\n"
	                 "FROM ${EMPTY-e2}img\n"
	                 "FROM img${BASE:+-plus}\n";
	CHECK_EQ(run(df), 0);
	CHECK_EQ(imgs.n, 5);
	CHECK_STR(imgs.v[0], "debian:bookworm");
	CHECK_STR(imgs.v[1], "localhost:5000/debian-slim:x");
	CHECK_STR(imgs.v[2], "e1");
	CHECK_STR(imgs.v[3], "img");
	CHECK_STR(imgs.v[4], "img-plus");
	strlist_push(&args, "TAG=12");
	strlist_push(&args, "BASE=ubuntu");
	strlist_push(&args, "NOTDECLARED=zzz");
	CHECK_EQ(run(df), 0);
	CHECK_STR(imgs.v[0], "ubuntu:12");
	CHECK_STR(imgs.v[1], "localhost:5000/ubuntu-slim:x");
	CHECK_EQ(run("FROM x${NOTDECLARED}y\n"), 0);
	CHECK_STR(imgs.v[0], "xy");
	strlist_free(&args);
}

/* --platform, continuations, comments inside continuations, CRLF, escape directive. */
static void test_syntax(void)
{
	CHECK_EQ(run("\n# a comment\n  from --platform=$BUILDPLATFORM \\\n"
	             "# comment inside\n"
	             "\n"
	             "    busybox:1.36 \\\r\n"
	             "    AS b\r\n"
	             "RUN echo \\\n  FROM nothere\n"),
	         0);
	CHECK_EQ(imgs.n, 1);
	CHECK_STR(imgs.v[0], "busybox:1.36");
	CHECK_EQ(run("# escape=`\nARG V=1\nFROM img:$V`\n  AS x\nFROM x\n"), 0);
	CHECK_EQ(imgs.n, 1);
	CHECK_STR(imgs.v[0], "img:1");
}

/* Here-documents of RUN, COPY and ADD are skipped whole; quoted << opens none. */
static void test_heredocs(void)
{
	CHECK_EQ(run("FROM a:1\n"
	             "RUN <<EOF\n"
	             "FROM inside:heredoc\n"
	             "# not a comment \\\n"
	             "EOF\n"
	             "RUN echo \"x <<NOPE\" 'y <<NO'\n"
	             "FROM b:2\n"
	             "COPY <<-\"ONE\" 3<<'TWO' /dst/\n"
	             "\tFROM one\n"
	             "\tONE\n"
	             "FROM two\n"
	             "TWO\n"
	             "run <<EOF cat\r\n"
	             "FROM crlf\r\n"
	             "EOF\r\n"
	             "FROM c:3\n"),
	         0);
	CHECK_EQ(imgs.n, 3);
	CHECK_STR(imgs.v[0], "a:1");
	CHECK_STR(imgs.v[1], "b:2");
	CHECK_STR(imgs.v[2], "c:3");
	/* An unterminated here-document runs to the end. */
	CHECK_EQ(run("FROM a\nRUN <<EOF\nFROM b\n"), 0);
	CHECK_EQ(imgs.n, 1);
}

/* Parser directives: escape after syntax and check, a byte order mark, an unknown key ends them. */
static void test_directives(void)
{
	CHECK_EQ(run("\xef\xbb\xbf# syntax=docker/dockerfile:1\n"
	             "#check=skip=all\n"
	             "# ESCAPE = `\n"
	             "FROM `\n"
	             "  img:1\n"),
	         0);
	CHECK_EQ(imgs.n, 1);
	CHECK_STR(imgs.v[0], "img:1");
	CHECK_EQ(run("\xef\xbb\xbf"
	             "FROM bom:1\r\n"),
	         0);
	CHECK_STR(imgs.v[0], "bom:1");
	/* After an unknown directive (a comment) escape is no directive any more. */
	CHECK_EQ(run("# foo=bar\n# escape=`\nFROM a \\\n  AS b\n"), 0);
	CHECK_EQ(imgs.n, 1);
	CHECK_STR(imgs.v[0], "a");
}

/* The automatic platform ARGs: TARGET* from the platform asked for, BUILD* from the host. */
static void test_platform_args(void)
{
	const char *df = "ARG TARGETARCH\n"
	                 "FROM img:1 AS base-amd64\n"
	                 "FROM img:2 AS base-arm64\n"
	                 "FROM base-${TARGETARCH}\n"
	                 "FROM x:${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-}${TARGETVARIANT}\n"
	                 "FROM --platform=$BUILDPLATFORM y:${BUILDOS}-${BUILDARCH}\n";
	char host[64];
	snprintf(host, sizeof(host), "y:linux-%s", dockerfile_host_arch());
	platform = "linux/arm64/v8";
	CHECK_EQ(run(df), 0);
	CHECK_EQ(imgs.n, 4);
	CHECK_STR(imgs.v[0], "img:1");
	CHECK_STR(imgs.v[1], "img:2");
	CHECK_STR(imgs.v[2], "x:linux-arm64-v8");
	CHECK_STR(imgs.v[3], host);
	platform = "linux/arm64";
	CHECK_EQ(run(df), 0);
	CHECK_EQ(imgs.n, 4);
	CHECK_STR(imgs.v[2], "x:linux-arm64");
	platform = NULL;
	CHECK_EQ(run("FROM z:${TARGETPLATFORM}\n"), 0);
	snprintf(host, sizeof(host), "z:linux/%s", dockerfile_host_arch());
	CHECK_STR(imgs.v[0], host);
	strlist_push(&args, "TARGETARCH=s390x");
	CHECK_EQ(run(df), 0);
	CHECK_STR(imgs.v[2], "base-s390x"); /* no such stage: an image */
	CHECK_STR(imgs.v[3], "x:linux-s390x");
	strlist_free(&args);
}

/* Errors name the line. */
static void test_errors(void)
{
	CHECK_EQ(run("RUN x\n"), -1);
	CHECK_STR(err, "no FROM instruction");
	CHECK_EQ(run("FROM a\n\nFROM ${X\n"), -1);
	CHECK(strstr(err, "line 3") != NULL);
	CHECK_EQ(run("FROM\n"), -1);
	CHECK(strstr(err, "line 1") != NULL);
	CHECK_EQ(run("FROM a AS\n"), -1);
	CHECK_EQ(run("FROM a b c\n"), -1);
	CHECK_EQ(run("ARG E\nFROM ${E}\n"), -1);
	CHECK(strstr(err, "empty") != NULL);
	CHECK_EQ(run("FROM ${X:?err}\n"), -1);
	strlist_free(&imgs);
}

int main(void)
{
	RUN(test_stages);
	RUN(test_args);
	RUN(test_syntax);
	RUN(test_heredocs);
	RUN(test_directives);
	RUN(test_platform_args);
	RUN(test_errors);
	return T_DONE();
}
