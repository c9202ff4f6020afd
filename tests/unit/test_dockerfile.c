/* test_dockerfile.c: base images from FROM lines with ARG substitution and stage names. */
#include "dockerfile.h"
#include "t.h"

static struct strlist imgs, args;
static char err[256];

static int run(const char *text)
{
	strlist_free(&imgs);
	return dockerfile_base_images(text, &args, &imgs, err, sizeof(err));
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
	RUN(test_errors);
	return T_DONE();
}
