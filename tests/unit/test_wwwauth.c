/* test_wwwauth.c: RFC 7235 WWW-Authenticate parsing. */
#include <stdio.h>
#include <stdlib.h>

#include "t.h"
#include "wwwauth.h"

/* A Bearer challenge with quoted values holding commas and escapes. */
static void test_bearer_quoted(void)
{
	struct wwwauth wa = {0};
	CHECK_EQ(wwwauth_parse(
	                 &wa, "Bearer realm=\"https://auth.example.com/token\","
	                      "service=\"registry.example.com\","
	                      "scope=\"repository:a/b:pull,push\",note=\"say \\\"hi\\\", \\\\ok\""),
	         0);
	CHECK_EQ(wa.n, 1);
	const struct wwwauth_challenge *c = wwwauth_find(&wa, "bearer");
	CHECK(c != NULL);
	if (c) {
		CHECK_STR(wwwauth_param(c, "realm"), "https://auth.example.com/token");
		CHECK_STR(wwwauth_param(c, "SERVICE"), "registry.example.com");
		CHECK_STR(wwwauth_param(c, "scope"), "repository:a/b:pull,push");
		CHECK_STR(wwwauth_param(c, "note"), "say \"hi\", \\ok");
		CHECK(wwwauth_param(c, "error") == NULL);
	}
	wwwauth_free(&wa);
}

/* Several challenges in one header; several headers append. */
static void test_several(void)
{
	struct wwwauth wa = {0};
	CHECK_EQ(
	        wwwauth_parse(&wa, "Basic realm=\"a, b\", Bearer realm=\"http://x/t\",service=svc"),
	        0);
	CHECK_EQ(wa.n, 2);
	CHECK_STR(wa.v[0].scheme, "Basic");
	CHECK_STR(wwwauth_param(&wa.v[0], "realm"), "a, b");
	CHECK_STR(wa.v[1].scheme, "Bearer");
	CHECK_STR(wwwauth_param(&wa.v[1], "service"), "svc");
	CHECK_EQ(wwwauth_parse(&wa, "Negotiate, NTLM abc123==  ,  Digest realm = x , qop=auth"), 0);
	CHECK_EQ(wa.n, 5);
	CHECK_STR(wa.v[2].scheme, "Negotiate");
	CHECK(wa.v[2].token68 == NULL && wa.v[2].nparams == 0);
	CHECK_STR(wa.v[3].scheme, "NTLM");
	CHECK_STR(wa.v[3].token68, "abc123==");
	CHECK_STR(wa.v[4].scheme, "Digest");
	CHECK_STR(wwwauth_param(&wa.v[4], "realm"), "x");
	CHECK_STR(wwwauth_param(&wa.v[4], "qop"), "auth");
	CHECK(wwwauth_find(&wa, "basic") == &wa.v[0]);
	wwwauth_free(&wa);
}

/* Malformed values fail without losing what came before. */
static void test_malformed(void)
{
	struct wwwauth wa = {0};
	CHECK_EQ(wwwauth_parse(&wa, "Bearer realm=\"unterminated"), -1);
	CHECK_EQ(wwwauth_parse(&wa, "Basic realm=x y"), -1);
	CHECK_EQ(wwwauth_parse(&wa, "=x"), -1);
	CHECK_EQ(wwwauth_parse(&wa, "Basic realm=\"x\" junk"), -1);
	wwwauth_free(&wa);
	CHECK_EQ(wwwauth_parse(&wa, ""), 0);
	CHECK_EQ(wa.n, 0);
	CHECK_EQ(wwwauth_parse(&wa, "Basic"), 0);
	CHECK_EQ(wa.n, 1);
	wwwauth_free(&wa);
}

/* A header of thousands of challenges keeps the first WWWAUTH_MAX_CHALLENGES only. */
static void test_many(void)
{
	struct wwwauth wa = {0};
	size_t n = 3000, len = 0;
	char *v = malloc(n * 32 + 64);
	CHECK(v != NULL);
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(v + len, "%sBasic realm=\"r\\\"%zu\"", i ? ", " : "", i);
	len += (size_t)sprintf(v + len, ", Bearer realm=\"late\"");
	CHECK_EQ(wwwauth_parse(&wa, v), -1);
	CHECK_EQ(wa.n, WWWAUTH_MAX_CHALLENGES);
	CHECK_STR(wwwauth_param(&wa.v[1], "realm"), "r\"1");
	CHECK(wwwauth_find(&wa, "Bearer") == NULL);
	CHECK_EQ(wwwauth_parse(&wa, "Bearer realm=\"more\""), -1); /* a second header too */
	wwwauth_free(&wa);
	free(v);
}

int main(void)
{
	RUN(test_bearer_quoted);
	RUN(test_several);
	RUN(test_malformed);
	RUN(test_many);
	return T_DONE();
}
