/* test_msg_client.c: --json lines and credential variables of the client. */
#include <stdlib.h>
#include <string.h>

#include "msg_client.h"
#include "t.h"

/* UTF-8 validation: overlongs, surrogates and cut sequences are invalid. */
static void test_utf8(void)
{
	CHECK(msg_utf8_valid((const uint8_t *)"plain", 5));
	CHECK(msg_utf8_valid((const uint8_t *)"caf\xc3\xa9", 5));
	CHECK(msg_utf8_valid((const uint8_t *)"\xf0\x9f\x98\x80", 4));
	CHECK(!msg_utf8_valid((const uint8_t *)"caf\xc3", 4));
	CHECK(!msg_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
	CHECK(!msg_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
	CHECK(!msg_utf8_valid((const uint8_t *)"\xff", 1));
}

/* Stream lines: text as "data", anything else as base64. */
static void test_stream(void)
{
	char *s = msg_json_stream("stdout", (const uint8_t *)"a\"b\n", 4);
	CHECK_STR(s, "{\"stream\":\"stdout\",\"data\":\"a\\\"b\\n\"}");
	free(s);
	s = msg_json_stream("stderr", (const uint8_t *)"\xff\x00z", 3);
	CHECK_STR(s, "{\"stream\":\"stderr\",\"data_base64\":\"/wB6\"}");
	free(s);
}

/* Log, exit and error lines; bad UTF-8 in messages is replaced, never passed on. */
static void test_lines(void)
{
	char *s = msg_json_log("warn", "runner", "bad \xff byte", 10);
	CHECK_STR(
	        s,
	        "{\"log\":{\"level\":\"warn\",\"origin\":\"runner\",\"message\":\"bad \xef\xbf\xbd "
	        "byte\"}}");
	free(s);
	s = msg_json_exit(true, 9, "", 137);
	CHECK_STR(s, "{\"exit\":{\"signal\":9,\"status\":137}}");
	free(s);
	s = msg_json_error(4, "CONTEXT", "runner", "no", 2, 65);
	CHECK_STR(s,
	          "{\"error\":{\"code\":4,\"name\":\"CONTEXT\",\"origin\":\"runner\",\"message\":"
	          "\"no\",\"status\":65}}");
	free(s);
	s = msg_json_error(0, "CONNECT", "client", "refused", 7, 69);
	CHECK(strstr(s, "\"code\"") == NULL);
	free(s);
	CHECK(msg_json_check("[1]", 3) == NULL);
	s = msg_json_check("{\n\"kind\": \"auth\"\n}", 18);
	CHECK_STR(s, "{\"check\":{\"kind\":\"auth\"}}");
	free(s);
}

/* Credential JSON: list or object, default registry, errors without secrets. */
static void test_creds(void)
{
	struct build_request r;
	char err[256];
	msg_request_init(&r);
	CHECK_EQ(msg_creds_parse("[{\"registry\":\"a\",\"username\":\"u\",\"password\":\"p\"},"
	                         "{\"registry\":\"b\",\"auth\":\"x\",\"insecure\":true}]",
	                         "VAR", true, NULL, &r, err, sizeof(err)),
	         0);
	CHECK_EQ(r.ncreds, 2);
	CHECK_STR(r.creds[0].password, "p");
	CHECK(r.creds[1].insecure);
	CHECK_EQ(msg_creds_parse("{\"username\":\"u\",\"password\":\"p\"}", "VAR", false, "cache:1",
	                         &r, err, sizeof(err)),
	         0);
	CHECK_STR(r.creds[2].registry, "cache:1");
	CHECK_EQ(msg_creds_parse("{\"username\":\"u\",\"password\":\"s3cret\"}", "VAR", true, NULL,
	                         &r, err, sizeof(err)),
	         -1);
	CHECK(strstr(err, "VAR") && strstr(err, "registry") && !strstr(err, "s3cret"));
	CHECK_EQ(msg_creds_parse("[]", "VAR", false, NULL, &r, err, sizeof(err)), -1);
	CHECK_EQ(msg_creds_parse("[{\"registry\":\"a\",\"password\":\"p\"}]", "VAR", true, NULL, &r,
	                         err, sizeof(err)),
	         -1);
	CHECK(strstr(err, "entry 1") != NULL);
	CHECK_EQ(msg_creds_parse("nope", "VAR", true, NULL, &r, err, sizeof(err)), -1);
	CHECK_EQ(r.ncreds, 3);
	msg_request_free(&r);
}

int main(void)
{
	RUN(test_utf8);
	RUN(test_stream);
	RUN(test_lines);
	RUN(test_creds);
	return T_DONE();
}
