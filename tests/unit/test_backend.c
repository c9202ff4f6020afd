/* test_backend.c: Kaniko and buildah command lines and the builder's environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "t.h"

static void check_argv(const struct strlist *got, const char *const *want);
static bool has_arg(const struct strlist *argv, const char *arg);
static void write_file(const char *path, const char *text);
static char *read_all(const char *path);

/* Compare an argv with a NULL-terminated list, element by element. */
static void check_argv(const struct strlist *got, const char *const *want)
{
	size_t n = 0;
	while (want[n])
		n++;
	CHECK_EQ(got->n, n);
	for (size_t i = 0; i < n && i < got->n; i++)
		CHECK_STR(got->v[i], want[i]);
	CHECK(got->v[got->n] == NULL);
}

static bool has_arg(const struct strlist *argv, const char *arg)
{
	for (size_t i = 0; i < argv->n; i++)
		if (strcmp(argv->v[i], arg) == 0)
			return true;
	return false;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static char *read_all(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static void base_cfg(struct runner_config *cfg, const char *backend)
{
	cli_runner_defaults(cfg);
	cfg->backend = (char *)backend;
	cfg->executor = "/kaniko/executor";
	cfg->buildah = "/usr/bin/buildah";
	cfg->isolation = "chroot";
	cfg->storage_driver = "vfs";
}

static void test_kaniko_full(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256];
	base_cfg(&cfg, "kaniko");
	msg_request_init(&req);
	strlist_push(&req.destinations, "reg.example:5000/a:1");
	strlist_push(&req.build_args, "A=b=c");
	strlist_push(&req.labels, "l=v");
	req.platform = "linux/arm64";
	req.target = "t";
	req.cache_repo = "cache.example/c";
	req.cache_insecure = true;
	strlist_push(&req.insecure_registries, "cache.example");
	req.cache_dir = "/cache";
	req.push = false;
	struct registry_cred c = {
	        .registry = "http://plain.example:80/", .auth = "eDp5", .insecure = true};
	req.creds = &c;
	req.ncreds = 1;
	CHECK_EQ(backend_plan(&cfg, &req, "/kaniko/r2k/build-1", "d/Dockerfile", 7, NULL, &plan,
	                      err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 1);
	const char *want[] = {"/kaniko/executor",
	                      "--dockerfile=/kaniko/r2k/build-1/context/d/Dockerfile",
	                      "--context=dir:///kaniko/r2k/build-1/context",
	                      "--destination=reg.example:5000/a:1",
	                      "--build-arg=A=b=c",
	                      "--label=l=v",
	                      "--custom-platform=linux/arm64",
	                      "--target=t",
	                      "--cache=true",
	                      "--cache-copy-layers=true",
	                      "--cache-run-layers=true",
	                      "--cache-repo=cache.example/c",
	                      "--insecure-registry=cache.example",
	                      "--insecure-registry=plain.example:80",
	                      "--cache-dir=/cache",
	                      "--no-push",
	                      "--digest-file=/kaniko/r2k/build-1/digest",
	                      "--log-format=text",
	                      NULL};
	check_argv(&plan.steps[0].argv, want);
	CHECK_EQ(plan.cleanup.n, 0);
	CHECK(strncmp(plan.env.v[0], "PATH=", 5) == 0);
	CHECK(strncmp(plan.env.v[1], "HOME=", 5) == 0);
	CHECK_STR(plan.env.v[plan.env.n - 1], "DOCKER_CONFIG=/kaniko/r2k/build-1/docker");
	/* The credential's secret is never on a command line. */
	for (size_t i = 0; i < plan.steps[0].argv.n; i++)
		CHECK(strstr(plan.steps[0].argv.v[i], "eDp5") == NULL);
	backend_plan_free(&plan);
	strlist_free(&req.destinations);
	strlist_free(&req.build_args);
	strlist_free(&req.labels);
	strlist_free(&req.insecure_registries);
}

static void test_buildah(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256];
	base_cfg(&cfg, "buildah");
	msg_request_init(&req);
	strlist_push(&req.destinations, "127.0.0.1:5000/a:1");
	strlist_push(&req.destinations, "reg.example/a:latest");
	strlist_push(&req.build_args, "A=1");
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, NULL, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 3);
	/* The local name is the build's own, never a destination (concurrent builds). */
	char local[128];
	snprintf(local, sizeof(local), "localhost/r2k-build-%ld-7:latest", (long)getpid());
	const char *build[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "build",
	                       "--isolation=chroot",
	                       "-f",
	                       "/tmp/w/context/Dockerfile",
	                       "-t",
	                       local,
	                       "--build-arg=A=1",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "/tmp/w/context",
	                       NULL};
	/* buildah build pushes nothing: a loopback destination is only its push's concern. */
	check_argv(&plan.steps[0].argv, build);
	const char *push1[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "push",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "--tls-verify=false",
	                       "--digestfile=/tmp/w/digest",
	                       local,
	                       "docker://127.0.0.1:5000/a:1",
	                       NULL};
	check_argv(&plan.steps[1].argv, push1);
	const char *push2[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "push",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "--digestfile=/tmp/w/digest",
	                       local,
	                       "docker://reg.example/a:latest",
	                       NULL};
	check_argv(&plan.steps[2].argv, push2);
	const char *rmi[] = {"/usr/bin/buildah", "--storage-driver=vfs", "rmi", "-f", local, NULL};
	check_argv(&plan.cleanup, rmi);
	backend_plan_free(&plan);

	/* No destination: a local name, no push step, TLS verified. */
	strlist_free(&req.destinations);
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 9, NULL, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 1);
	CHECK(strncmp(plan.steps[0].argv.v[7], "localhost/r2k-build-", 20) == 0);
	for (size_t i = 0; i < plan.steps[0].argv.n; i++)
		CHECK(strcmp(plan.steps[0].argv.v[i], "--tls-verify=false") != 0);
	backend_plan_free(&plan);
	strlist_free(&req.build_args);
}

/* The cache repository: buildah's layer cache there, plain HTTP as for the other registries. */
static void test_buildah_local_base_image(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256], tmp[] = "/tmp/r2k-test-backend-XXXXXX", path[1024];
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(path, sizeof(path), "%s/context", tmp);
	CHECK_EQ(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/context/Dockerfile", tmp);
	base_cfg(&cfg, "buildah");
	msg_request_init(&req);
	/* A base image from a registry reached over plain HTTP by name: so is its pull. */
	write_file(path, "FROM 10.1.2.3:5000/base:1 AS b\nFROM b\n");
	strlist_push(&req.destinations, "reg.example/a:1");
	CHECK_EQ(backend_plan(&cfg, &req, tmp, "Dockerfile", 7, NULL, &plan, err, sizeof(err)), 0);
	CHECK_EQ(plan.nsteps, 2);
	CHECK(has_arg(&plan.steps[0].argv, "--tls-verify=false"));
	CHECK(!has_arg(&plan.steps[1].argv, "--tls-verify=false"));
	backend_plan_free(&plan);
	/* Base images verified, whatever the destination (an in-cluster RFC 1918 registry). */
	write_file(path, "FROM docker.io/library/busybox:1\n");
	strlist_free(&req.destinations);
	strlist_push(&req.destinations, "10.1.2.3:5000/a:1");
	CHECK_EQ(backend_plan(&cfg, &req, tmp, "Dockerfile", 7, NULL, &plan, err, sizeof(err)), 0);
	CHECK_EQ(plan.nsteps, 2);
	CHECK(!has_arg(&plan.steps[0].argv, "--tls-verify=false"));
	CHECK(has_arg(&plan.steps[1].argv, "--tls-verify=false"));
	backend_plan_free(&plan);
	strlist_free(&req.destinations);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	CHECK_EQ(system(path), 0);
}

static void test_buildah_cache(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256];
	base_cfg(&cfg, "buildah");
	msg_request_init(&req);
	req.cache_repo = "cache.example/team/cache";
	req.cache_dir = "/cache"; /* Kaniko's: never passed to buildah */
	req.push = false;
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, NULL, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 1);
	char local[128];
	snprintf(local, sizeof(local), "localhost/r2k-build-%ld-7:latest", (long)getpid());
	const char *build[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "build",
	                       "--isolation=chroot",
	                       "-f",
	                       "/tmp/w/context/Dockerfile",
	                       "-t",
	                       local,
	                       "--layers",
	                       "--cache-from=cache.example/team/cache",
	                       "--cache-to=cache.example/team/cache",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "/tmp/w/context",
	                       NULL};
	check_argv(&plan.steps[0].argv, build);
	backend_plan_free(&plan);

	/* An insecure or loopback cache registry is reached without TLS verification. */
	req.cache_insecure = true;
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, NULL, &plan, err, sizeof(err)),
	         0);
	CHECK_STR(plan.steps[0].argv.v[plan.steps[0].argv.n - 2], "--tls-verify=false");
	backend_plan_free(&plan);
	req.cache_insecure = false;
	/* Hosts Kaniko's registry library reaches over plain HTTP by name alone, and one it does
	 * not. */
	static const char *const plain[] = {"127.0.0.1:5000/cache", "localhost/cache",
	                                    "10.1.2.3:5000/cache", "192.168.0.9/cache",
	                                    "registry.local/cache"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		req.cache_repo = (char *)plain[i];
		CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, NULL, &plan, err,
		                      sizeof(err)),
		         0);
		CHECK_STR(plan.steps[0].argv.v[plan.steps[0].argv.n - 2], "--tls-verify=false");
		backend_plan_free(&plan);
	}
	req.cache_repo = "192.0.2.10:5000/cache";
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, NULL, &plan, err, sizeof(err)),
	         0);
	CHECK(!has_arg(&plan.steps[0].argv, "--tls-verify=false"));
	backend_plan_free(&plan);
}

/*
 * The runner's TLS settings reach buildah: --cert-dir (copies of the CA files
 * of the registries the build reaches) and --tls-verify=false, on each command
 * that reaches such a registry.
 */
static void test_buildah_tls(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	struct strlist cold = {0};
	char err[256], tmp[] = "/tmp/r2k-test-backend-XXXXXX", ws[300], path[1024], ca1[300],
	               ca2[300];
	CHECK(mkdtemp(tmp) != NULL);
	snprintf(ws, sizeof(ws), "%s/ws", tmp);
	CHECK_EQ(mkdir(ws, 0700), 0);
	snprintf(path, sizeof(path), "%s/context", ws);
	CHECK_EQ(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/context/Dockerfile", ws);
	write_file(path, "FROM base.example/os:1 AS b\nFROM self.example/os:2\n");
	snprintf(ca1, sizeof(ca1), "%s/base-ca.pem", tmp);
	write_file(ca1, "BASE CA\n");
	snprintf(ca2, sizeof(ca2), "%s/dest-ca.pem", tmp);
	write_file(ca2, "DEST CA\n");

	base_cfg(&cfg, "buildah");
	snprintf(path, sizeof(path), "base.example=%s", ca1);
	strlist_push(&cfg.registry_ca_files, path);
	snprintf(path, sizeof(path), "dest.example:5000=%s", ca2);
	strlist_push(&cfg.registry_ca_files, path);
	strlist_push(&cfg.registry_ca_files, "unused.example=/nonexistent/ca.pem");
	strlist_push(&cfg.skip_tls_verify, "self.example");
	msg_request_init(&req);
	strlist_push(&req.destinations, "dest.example:5000/a:1");
	strlist_push(&req.destinations, "self.example/a:1");
	strlist_push(&req.destinations, "plain.example/a:1");
	CHECK_EQ(backend_plan(&cfg, &req, ws, "Dockerfile", 3, NULL, &plan, err, sizeof(err)), 0);
	char certs[320], arg[340];
	snprintf(certs, sizeof(certs), "%s/certs", ws);
	snprintf(arg, sizeof(arg), "--cert-dir=%s", certs);
	CHECK_STR(plan.cert_dir, certs);
	CHECK_EQ(plan.nsteps, 4);
	/* The build pulls from base.example (a CA) and self.example (not verified). */
	CHECK(has_arg(&plan.steps[0].argv, arg));
	CHECK(has_arg(&plan.steps[0].argv, "--tls-verify=false"));
	/* Each push: its destination's settings only. */
	CHECK(has_arg(&plan.steps[1].argv, arg));
	CHECK(!has_arg(&plan.steps[1].argv, "--tls-verify=false"));
	CHECK(!has_arg(&plan.steps[2].argv, arg));
	CHECK(has_arg(&plan.steps[2].argv, "--tls-verify=false"));
	CHECK(!has_arg(&plan.steps[3].argv, arg));
	CHECK(!has_arg(&plan.steps[3].argv, "--tls-verify=false"));
	/* The CA bundles of the reached registries, copied; none for unused.example. */
	snprintf(path, sizeof(path), "%s/ca-1.crt", certs);
	const char *text = read_all(path);
	CHECK(text && strcmp(text, "DEST CA\n") == 0);
	snprintf(path, sizeof(path), "%s/ca-2.crt", certs);
	text = read_all(path);
	CHECK(text && strcmp(text, "BASE CA\n") == 0);
	snprintf(path, sizeof(path), "%s/ca-3.crt", certs);
	CHECK(read_all(path) == NULL);
	backend_plan_free(&plan);
	snprintf(path, sizeof(path), "rm -rf '%s'", certs);
	CHECK_EQ(system(path), 0);

	/* The warm-up pulls get the same per-registry settings. */
	req.warm = true;
	strlist_push(&cold, "base.example/os:1");
	strlist_push(&cold, "self.example/os:2");
	CHECK_EQ(backend_plan(&cfg, &req, ws, "Dockerfile", 3, &cold, &plan, err, sizeof(err)), 0);
	CHECK_STR(plan.steps[0].argv.v[2], "pull");
	CHECK(has_arg(&plan.steps[0].argv, arg));
	CHECK(!has_arg(&plan.steps[0].argv, "--tls-verify=false"));
	CHECK(!has_arg(&plan.steps[1].argv, arg));
	CHECK(has_arg(&plan.steps[1].argv, "--tls-verify=false"));
	backend_plan_free(&plan);
	snprintf(path, sizeof(path), "rm -rf '%s'", certs);
	CHECK_EQ(system(path), 0);
	req.warm = false;

	/* A CA file that cannot be read, for a registry the build reaches, fails the plan. */
	strlist_push(&req.destinations, "unused.example/a:1");
	CHECK_EQ(backend_plan(&cfg, &req, ws, "Dockerfile", 3, NULL, &plan, err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent/ca.pem") != NULL);

	/* No CA file for any registry of the build: no certificate directory. */
	strlist_free(&req.destinations);
	strlist_push(&req.destinations, "plain.example/a:1");
	snprintf(path, sizeof(path), "%s/context/Dockerfile", ws);
	write_file(path, "FROM plain.example/os:1\n");
	snprintf(path, sizeof(path), "rm -rf '%s'", certs);
	CHECK_EQ(system(path), 0);
	CHECK_EQ(backend_plan(&cfg, &req, ws, "Dockerfile", 3, NULL, &plan, err, sizeof(err)), 0);
	CHECK(plan.cert_dir == NULL);
	CHECK(access(certs, F_OK) != 0);
	for (size_t i = 0; i < plan.nsteps; i++) {
		for (size_t k = 0; k < plan.steps[i].argv.n; k++)
			CHECK(strncmp(plan.steps[i].argv.v[k], "--cert-dir", 10) != 0);
		CHECK(!has_arg(&plan.steps[i].argv, "--tls-verify=false"));
	}
	backend_plan_free(&plan);

	strlist_free(&req.destinations);
	strlist_free(&cold);
	strlist_free(&cfg.registry_ca_files);
	strlist_free(&cfg.skip_tls_verify);
	snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
	CHECK_EQ(system(path), 0);
}

/* Only PATH, HOME, proxies, CA bundles, TZ and --pass-env names reach the builder. */
static void test_env(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256];
	base_cfg(&cfg, "kaniko");
	strlist_push(&cfg.pass_env, "R2K_TEST_PASSED");
	strlist_push(&cfg.pass_env, "DOCKER_CONFIG"); /* reserved: never the runner's */
	strlist_push(&cfg.pass_env, "R2K_TEST_UNSET");
	setenv("R2K_TEST_PASSED", "yes", 1);
	setenv("R2K_TEST_SECRET", "no", 1);
	setenv("HTTPS_PROXY", "http://proxy.example:3128", 1);
	setenv("DOCKER_CONFIG", "/root/.docker", 1);
	unsetenv("R2K_TEST_UNSET");
	msg_request_init(&req);
	CHECK_EQ(backend_plan(&cfg, &req, "/w", "Dockerfile", 1, NULL, &plan, err, sizeof(err)), 0);
	bool passed = false, proxy = false;
	size_t docker_config = 0;
	for (size_t i = 0; i < plan.env.n; i++) {
		passed = passed || strcmp(plan.env.v[i], "R2K_TEST_PASSED=yes") == 0;
		proxy = proxy ||
		        strcmp(plan.env.v[i], "HTTPS_PROXY=http://proxy.example:3128") == 0;
		CHECK(strncmp(plan.env.v[i], "R2K_TEST_SECRET=", 16) != 0);
		CHECK(strncmp(plan.env.v[i], "R2K_TEST_UNSET", 14) != 0);
		if (strncmp(plan.env.v[i], "DOCKER_CONFIG=", 14) == 0) {
			docker_config++;
			CHECK_STR(plan.env.v[i], "DOCKER_CONFIG=/w/docker");
		}
	}
	CHECK(passed);
	CHECK(proxy);
	CHECK_EQ(docker_config, 1);
	backend_plan_free(&plan);
	strlist_free(&cfg.pass_env);
	unsetenv("HTTPS_PROXY");
	unsetenv("DOCKER_CONFIG");
}

/* The runner's TLS settings reach Kaniko, so that checks and builder agree. */
static void test_kaniko_tls(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	char err[256];
	base_cfg(&cfg, "kaniko");
	strlist_push(&cfg.registry_ca_files, "reg.example=/etc/r2k/ca.pem");
	strlist_push(&cfg.skip_tls_verify, "self.example:5000");
	msg_request_init(&req);
	CHECK_EQ(backend_plan(&cfg, &req, "/w", "Dockerfile", 1, NULL, &plan, err, sizeof(err)), 0);
	int found = 0;
	for (size_t i = 0; i < plan.steps[0].argv.n; i++) {
		const char *a = plan.steps[0].argv.v[i];
		found += strcmp(a, "--registry-certificate=reg.example=/etc/r2k/ca.pem") == 0;
		found += strcmp(a, "--skip-tls-verify-registry=self.example:5000") == 0;
	}
	CHECK_EQ(found, 2);
	backend_plan_free(&plan);
	strlist_free(&cfg.registry_ca_files);
	strlist_free(&cfg.skip_tls_verify);
}

/* Warm-up: the warmer for the cold images only, under the cache lock; buildah pulls. */
static void test_warm(void)
{
	struct runner_config cfg;
	struct build_request req;
	struct backend_plan plan;
	struct strlist cold = {0};
	char err[256];
	base_cfg(&cfg, "kaniko");
	cfg.warmer = "/kaniko/warmer";
	msg_request_init(&req);
	req.warm = true;
	req.cache_dir = "/cache/k";
	strlist_push(&cold, "reg.example/base:1");
	CHECK_EQ(backend_plan(&cfg, &req, "/w", "Dockerfile", 1, &cold, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 2);
	const char *warmer[] = {"/kaniko/warmer", "--cache-dir=/cache/k",
	                        "--image=reg.example/base:1", NULL};
	check_argv(&plan.steps[0].argv, warmer);
	CHECK(plan.steps[0].optional);
	CHECK_STR(plan.steps[0].lock, "/cache/k/.r2k-warm.lock");
	CHECK_EQ(plan.steps[0].warms.n, 1);
	CHECK_STR(plan.steps[1].argv.v[0], "/kaniko/executor");
	backend_plan_free(&plan);

	/* Nothing cold: no warm-up step at all. */
	struct strlist none = {0};
	CHECK_EQ(backend_plan(&cfg, &req, "/w", "Dockerfile", 1, &none, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 1);
	backend_plan_free(&plan);

	base_cfg(&cfg, "buildah");
	strlist_push(&cold, "127.0.0.1:5000/base:2");
	CHECK_EQ(backend_plan(&cfg, &req, "/w", "Dockerfile", 1, &cold, &plan, err, sizeof(err)),
	         0);
	CHECK_EQ(plan.nsteps, 3);
	const char *pull1[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "pull",
	                       "--quiet",
	                       "--authfile=/w/docker/config.json",
	                       "reg.example/base:1",
	                       NULL};
	check_argv(&plan.steps[0].argv, pull1);
	const char *pull2[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "pull",
	                       "--quiet",
	                       "--authfile=/w/docker/config.json",
	                       "--tls-verify=false",
	                       "127.0.0.1:5000/base:2",
	                       NULL};
	check_argv(&plan.steps[1].argv, pull2);
	CHECK(plan.steps[1].lock == NULL);
	CHECK_STR(plan.steps[2].argv.v[2], "build");
	backend_plan_free(&plan);
	strlist_free(&cold);
}

static void test_ref_host(void)
{
	char h[256];
	backend_ref_host("ubuntu:22.04", h, sizeof(h));
	CHECK_STR(h, "docker.io");
	backend_ref_host("library/ubuntu", h, sizeof(h));
	CHECK_STR(h, "docker.io");
	backend_ref_host("localhost/a", h, sizeof(h));
	CHECK_STR(h, "localhost");
	backend_ref_host("reg.example:5000/team/app:1", h, sizeof(h));
	CHECK_STR(h, "reg.example:5000");
}

int main(void)
{
	RUN(test_kaniko_full);
	RUN(test_buildah);
	RUN(test_buildah_local_base_image);
	RUN(test_buildah_cache);
	RUN(test_buildah_tls);
	RUN(test_env);
	RUN(test_kaniko_tls);
	RUN(test_warm);
	RUN(test_ref_host);
	return T_DONE();
}
