/* test_legacy_argv.c: legacy command confinement, legacy JSON line parsing, check-kind rows. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "legacy_argv.h"
#include "metrics.h"
#include "msg_legacy.h"
#include "runner.h"
#include "t.h"

static char root[256], ws[300], ctx[320], outside[300];

static int check(const char *const *args, char ***argv, char *err, size_t errlen)
{
	struct strlist l = {0};
	for (const char *const *a = args; *a; a++)
		strlist_push(&l, *a);
	int rc = legacy_argv_check("/kaniko/executor", ws, &l, argv, err, errlen);
	strlist_free(&l);
	return rc;
}

static void test_context_forms(void)
{
	char err[512], **argv;
	char eq[400], dir[400], sh[400];
	snprintf(eq, sizeof(eq), "--context=%s", ctx);
	snprintf(dir, sizeof(dir), "--context=dir://%s/./", ctx);
	snprintf(sh, sizeof(sh), "-c%s", ctx);
	const char *a1[] = {"/kaniko/executor", "--context", ctx, "--no-push", NULL};
	CHECK_EQ(check(a1, &argv, err, sizeof(err)), 0);
	CHECK_STR(argv[2], ctx);
	CHECK_STR(argv[3], "--no-push");
	CHECK(argv[4] == NULL);
	legacy_argv_free(argv);
	const char *a2[] = {"/kaniko/executor", dir, NULL};
	CHECK_EQ(check(a2, &argv, err, sizeof(err)), 0);
	CHECK_STR(argv[1], eq); /* dir:// and ./ resolved away */
	legacy_argv_free(argv);
	const char *a3[] = {"/kaniko/executor", sh, "--dockerfile", "Dockerfile", NULL};
	CHECK_EQ(check(a3, &argv, err, sizeof(err)), 0);
	char df[400];
	snprintf(df, sizeof(df), "%s/Dockerfile", ctx);
	CHECK_STR(argv[2], "--dockerfile");
	CHECK_STR(argv[3], df);
	legacy_argv_free(argv);
}

static void test_refusals(void)
{
	char err[512], **argv = NULL, esc[400], link[400];
	snprintf(esc, sizeof(esc), "%s/../outside", ctx);
	snprintf(link, sizeof(link), "%s/link", ws);
	const char *bad_exe[] = {"/bin/sh", "-c", "id", NULL};
	CHECK_EQ(check(bad_exe, &argv, err, sizeof(err)), -1);
	CHECK(strstr(err, "only runs /kaniko/executor") != NULL);
	const char *none[] = {"/kaniko/executor", "--no-push", NULL};
	CHECK_EQ(check(none, &argv, err, sizeof(err)), -1);
	CHECK(strstr(err, "no --context") != NULL);
	const char *out[] = {"/kaniko/executor", "--context", outside, NULL};
	CHECK_EQ(check(out, &argv, err, sizeof(err)), -1);
	CHECK(strstr(err, "not inside the shared workspace") != NULL);
	const char *lk[] = {"/kaniko/executor", "--context", link, NULL};
	CHECK_EQ(check(lk, &argv, err, sizeof(err)), -1);
	const char *self[] = {"/kaniko/executor", "--context", ws, NULL};
	CHECK_EQ(check(self, &argv, err, sizeof(err)), -1);
	const char *git[] = {"/kaniko/executor", "--context=git://example.invalid/x", NULL};
	CHECK_EQ(check(git, &argv, err, sizeof(err)), -1);
	CHECK(strstr(err, "only directories") != NULL);
	const char *novalue[] = {"/kaniko/executor", "--context", NULL};
	CHECK_EQ(check(novalue, &argv, err, sizeof(err)), -1);
	const char *df[] = {"/kaniko/executor", "--context", ctx, "-f", "/etc/passwd", NULL};
	CHECK_EQ(check(df, &argv, err, sizeof(err)), -1);
	CHECK(strstr(err, "dockerfile") != NULL);
	CHECK(argv == NULL);
}

static void test_output_paths(void)
{
	char err[512], **argv = NULL, inws[400], want[400];
	snprintf(inws, sizeof(inws), "--digest-file=%s/./digest", ctx);
	snprintf(want, sizeof(want), "--digest-file=%s/digest", ctx);
	const char *ok[] = {"/kaniko/executor", "--context", ctx, inws, NULL};
	CHECK_EQ(check(ok, &argv, err, sizeof(err)), 0);
	CHECK_STR(argv[3], want);
	legacy_argv_free(argv);
	static const char *const flags[] = {"--digest-file",     "--image-name-with-digest-file",
	                                    "--oci-layout-path", "--tar-path",
	                                    "--kaniko-dir",      "--tarPath"};
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		const char *bad[] = {"/kaniko/executor", "--context", ctx,
		                     flags[i],           "/etc/x",    NULL};
		argv = NULL;
		CHECK_EQ(check(bad, &argv, err, sizeof(err)), -1);
		CHECK(strstr(err, "output path '/etc/x' refused") != NULL);
		CHECK(argv == NULL);
	}
	const char *dots[] = {"/kaniko/executor", "--context", ctx, "--tar-path", "..", NULL};
	CHECK_EQ(check(dots, &argv, err, sizeof(err)), -1);
}

static void test_msg_legacy(void)
{
	struct legacy_request req;
	char err[256];
	const char *ok =
	        "{\"command\":[\"/kaniko/executor\",\"--context\",\"/w/x\"],"
	        "\"credentials\":[{\"registry\":\"r:5000\",\"username\":\"u\","
	        "\"password\":\"p\",\"tls-verify\":\"false\"},{\"registry\":\"h\",\"auth\":"
	        "\"dTpw\",\"insecure\":true}],\"extra\":1}";
	CHECK_EQ(msg_legacy_decode(ok, strlen(ok), &req, err, sizeof(err)), 0);
	CHECK_EQ(req.command.n, 3);
	CHECK_EQ(req.ncreds, 2);
	CHECK_STR(req.creds[0].password, "p");
	CHECK(req.creds[1].insecure);
	msg_legacy_free(&req);
	static const struct {
		const char *json, *want;
	} bad[] = {
	        {"{\"command\":[]}", "non-empty array"},
	        {"{\"command\":[1]}", "command[0]"},
	        {"[1]", "JSON object"},
	        {"{\"command\":[\"x\"],\"credentials\":{}}", "must be an array"},
	        {"{\"command\":[\"x\"],\"credentials\":[{\"username\":\"u\",\"password\":\"p\"}]}",
	         "credentials[0] has no registry"},
	        {"{\"command\":[\"x\"],\"credentials\":[{\"registry\":\"r\"}]}", "needs username"},
	        {"{\"command\":[\"x\"],\"credentials\":[{\"registry\":\"r\",\"auth\":\"a\","
	         "\"username\":\"u\",\"password\":\"p\"}]}",
	         "not both"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(
		        msg_legacy_decode(bad[i].json, strlen(bad[i].json), &req, err, sizeof(err)),
		        -1);
		CHECK(strstr(err, bad[i].want) != NULL);
		CHECK(strstr(err, "\"p\"") == NULL);
	}
	const char *empty = "{\"command\":[\"x\"],\"credentials\":[]}";
	CHECK_EQ(msg_legacy_decode(empty, strlen(empty), &req, err, sizeof(err)), 0);
	CHECK_EQ(req.ncreds, 0);
	msg_legacy_free(&req);
	/* Whitespace (a CR before the newline) may follow the object, nothing else. */
	const char *cr = "{\"command\":[\"x\"]} \t\r";
	CHECK_EQ(msg_legacy_decode(cr, strlen(cr), &req, err, sizeof(err)), 0);
	msg_legacy_free(&req);
	const char *trail = "{\"command\":[\"x\"]}{\"command\":[\"y\"]}";
	CHECK_EQ(msg_legacy_decode(trail, strlen(trail), &req, err, sizeof(err)), -1);
	CHECK(strstr(err, "data after the object") != NULL);
	/* A NUL would shorten a string for us but not for the sender. */
	static const char nul[] = "{\"command\":[\"/kaniko/executor\0/../x\"]}";
	CHECK_EQ(msg_legacy_decode(nul, sizeof(nul) - 1, &req, err, sizeof(err)), -1);
	CHECK(strstr(err, "NUL") != NULL);
}

static void test_executor_spellings(void)
{
	char err[512], **argv = NULL, link[400];
	snprintf(link, sizeof(link), "%s/executor-link", root);
	symlink("/kaniko/executor", link);
	const char *const spellings[] = {"/kaniko/../kaniko/executor",
	                                 "/kaniko//executor",
	                                 "kaniko/executor",
	                                 "executor",
	                                 link,
	                                 "/kaniko/executor/",
	                                 " /kaniko/executor",
	                                 ""};
	for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
		const char *cmd[] = {spellings[i], "--context", ctx, NULL};
		CHECK_EQ(check(cmd, &argv, err, sizeof(err)), -1);
		CHECK(strstr(err, "only runs /kaniko/executor") != NULL);
		CHECK(argv == NULL);
	}
	unlink(link);
}

static void test_check_kinds(void)
{
	struct runner_stats st = {0};
	CHECK_EQ(metrics_check_kind_index("reachability"), 0);
	CHECK_EQ(metrics_check_kind_index("warm"), 6);
	CHECK_EQ(metrics_check_kind_index("something-new"), METRICS_CHECK_KINDS - 1);
	CHECK_EQ(metrics_check_kind_index(NULL), METRICS_CHECK_KINDS - 1);
	metrics_count_check(&st, "auth", "ok", true);
	metrics_count_check(&st, "auth", "bad_credentials", false);
	metrics_count_check(&st, "auth", "bad_credentials", false);
	metrics_count_check(&st, "auth", "something-new", false);
	CHECK_EQ(st.checks[1][1], 1);
	CHECK_EQ(st.checks[1][0], 3);
	CHECK_EQ(st.check_statuses[1][metrics_check_status_index("ok")], 1);
	CHECK_EQ(st.check_statuses[1][metrics_check_status_index("bad_credentials")], 2);
	CHECK_EQ(st.check_statuses[1][METRICS_CHECK_STATUSES - 1], 1);
	CHECK_EQ(metrics_check_status_index(NULL), METRICS_CHECK_STATUSES - 1);
	CHECK_EQ(sizeof(st.checks) / sizeof(st.checks[0]), METRICS_CHECK_KINDS);
	CHECK_EQ(sizeof(st.check_statuses) / sizeof(st.check_statuses[0]), METRICS_CHECK_KINDS);
	CHECK_EQ(sizeof(st.check_statuses[0]) / sizeof(st.check_statuses[0][0]),
	         METRICS_CHECK_STATUSES);
}

int main(void)
{
	snprintf(root, sizeof(root), "/tmp/r2k-test-legacy-XXXXXX");
	if (!mkdtemp(root))
		return 1;
	snprintf(ws, sizeof(ws), "%s/ws", root);
	snprintf(ctx, sizeof(ctx), "%s/build1", ws);
	snprintf(outside, sizeof(outside), "%s/outside", root);
	char link[400], df[400];
	snprintf(link, sizeof(link), "%s/link", ws);
	snprintf(df, sizeof(df), "%s/Dockerfile", ctx);
	mkdir(ws, 0700);
	mkdir(ctx, 0700);
	mkdir(outside, 0700);
	symlink(outside, link);
	FILE *f = fopen(df, "w");
	if (f)
		fclose(f);
	RUN(test_context_forms);
	RUN(test_refusals);
	RUN(test_output_paths);
	RUN(test_msg_legacy);
	RUN(test_executor_spellings);
	RUN(test_check_kinds);
	unlink(df);
	unlink(link);
	rmdir(ctx);
	rmdir(ws);
	rmdir(outside);
	rmdir(root);
	return T_DONE();
}
