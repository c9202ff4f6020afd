/* test_backend.c: Kaniko and buildah command lines and the builder's environment. */
#include <stdlib.h>

#include "backend.h"
#include "t.h"

static void check_argv(const struct strlist *got, const char *const *want);

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
	CHECK_EQ(backend_plan(&cfg, &req, "/kaniko/r2k/build-1", "d/Dockerfile", 7, &plan, err,
	                      sizeof(err)),
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
	CHECK_EQ(plan.env.n, 3);
	CHECK(strncmp(plan.env.v[0], "PATH=", 5) == 0);
	CHECK(strncmp(plan.env.v[1], "HOME=", 5) == 0);
	CHECK_STR(plan.env.v[2], "DOCKER_CONFIG=/kaniko/r2k/build-1/docker");
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
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 7, &plan, err, sizeof(err)), 0);
	CHECK_EQ(plan.nsteps, 3);
	const char *build[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "build",
	                       "--isolation=chroot",
	                       "-f",
	                       "/tmp/w/context/Dockerfile",
	                       "-t",
	                       "127.0.0.1:5000/a:1",
	                       "--build-arg=A=1",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "--tls-verify=false",
	                       "/tmp/w/context",
	                       NULL};
	check_argv(&plan.steps[0].argv, build);
	const char *push1[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "push",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "--tls-verify=false",
	                       "--digestfile=/tmp/w/digest",
	                       "127.0.0.1:5000/a:1",
	                       "docker://127.0.0.1:5000/a:1",
	                       NULL};
	check_argv(&plan.steps[1].argv, push1);
	const char *push2[] = {"/usr/bin/buildah",
	                       "--storage-driver=vfs",
	                       "push",
	                       "--authfile=/tmp/w/docker/config.json",
	                       "--digestfile=/tmp/w/digest",
	                       "127.0.0.1:5000/a:1",
	                       "docker://reg.example/a:latest",
	                       NULL};
	check_argv(&plan.steps[2].argv, push2);
	const char *rmi[] = {"/usr/bin/buildah",
	                     "--storage-driver=vfs",
	                     "rmi",
	                     "-f",
	                     "127.0.0.1:5000/a:1",
	                     NULL};
	check_argv(&plan.cleanup, rmi);
	backend_plan_free(&plan);

	/* No destination: a local name, no push step, TLS verified. */
	strlist_free(&req.destinations);
	CHECK_EQ(backend_plan(&cfg, &req, "/tmp/w", "Dockerfile", 9, &plan, err, sizeof(err)), 0);
	CHECK_EQ(plan.nsteps, 1);
	CHECK(strncmp(plan.steps[0].argv.v[7], "localhost/r2k-build-", 20) == 0);
	for (size_t i = 0; i < plan.steps[0].argv.n; i++)
		CHECK(strcmp(plan.steps[0].argv.v[i], "--tls-verify=false") != 0);
	backend_plan_free(&plan);
	strlist_free(&req.build_args);
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
	RUN(test_ref_host);
	return T_DONE();
}
