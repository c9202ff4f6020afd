/* cli.c: option tables and defaults for r2k client, runner and check. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define CO(f) offsetof(struct client_config, f)
/* clang-format off */
static const struct opt client_opts[] = {
	{"build-arg", 0, OPT_LIST, CO(build_args), "K=V", "build argument", 0},
	{"cache-dir", 0, OPT_STRING, CO(cache_dir), "DIR", "base-image cache directory on the runner", 0},
	{"cache-registry", 0, OPT_STRING, CO(cache_registry), "REPO", "cache layers in this repository", 0},
	{"cache-registry-credentials", 0, OPT_LIST, CO(cache_registry_credentials), "K=V",
	 "cache registry credential field: registry, username, password, auth or insecure; env KANIKO_CACHE_REGISTRY_CREDENTIALS", 0},
	{"cache-registry-insecure", 0, OPT_BOOL, CO(cache_registry_insecure), NULL, "reach the cache registry over plain HTTP", 0},
	{"connect-timeout", 0, OPT_SECONDS, CO(connect_timeout), "SECONDS", "give up connecting after this long (default 30)", 0},
	{"context", 'c', OPT_STRING, CO(context), "DIR|-", "build context directory, or - for a tar stream on stdin (default .)", 0},
	{"destination", 'd', OPT_LIST, CO(destinations), "REF", "image reference to push to", 0},
	{"dockerfile", 'f', OPT_STRING, CO(dockerfile), "PATH", "Dockerfile path inside the context (default Dockerfile)", 0},
	{"insecure-registry", 0, OPT_LIST, CO(insecure_registries), "HOST", "registry reached over plain HTTP", 0},
	{"json", 0, OPT_BOOL, CO(json), NULL, "one JSON object per line on stdout instead of raw output", 0},
	{"label", 0, OPT_LIST, CO(labels), "K=V", "image label", 0},
	{"platform", 0, OPT_STRING, CO(platform), "PLATFORM", "target platform, e.g. linux/amd64", 0},
	{"progress", 0, OPT_STRING, CO(progress), "WHEN", "upload progress on stderr: auto (a terminal), always, never", 0},
	{"push", 0, OPT_BOOL, CO(push), NULL, "push the image (default on; env KANIKO_PUSH_IMAGE)", 0},
	{"registry-credentials", 0, OPT_LIST, CO(registry_credentials), "K=V",
	 "registry credential field: registry, username, password, auth or insecure; env CONTAINER_ENGINE_REGISTRY_CREDENTIALS", 0},
	{"runner", 'r', OPT_STRING, CO(runner), "ADDR", "runner address, tcp://HOST:PORT or unix:///path; env R2K_RUNNER", 0},
	{"target", 0, OPT_STRING, CO(target), "STAGE", "build stage to stop at", 0},
	{"verbose", 'v', OPT_BOOL, CO(verbose), NULL, "debug messages from r2k", 0},
	{"warm", 0, OPT_BOOL, CO(warm), NULL, "warm the runner's base-image cache before building", 0},
	{NULL, 0, 0, 0, NULL, NULL, 0},
};
/* clang-format on */
#undef CO

#define RO(f) offsetof(struct runner_config, f)
/* clang-format off */
static const struct opt runner_opts[] = {
	{"address", 0, OPT_LIST, RO(address), "ADDR", "alias of --listen", OPT_HIDDEN | OPT_SINGLE_DASH},
	{"backend", 0, OPT_STRING, RO(backend), "NAME", "builder: kaniko (default) or buildah", 0},
	{"buildah", 0, OPT_STRING, RO(buildah), "PATH", "buildah binary (default buildah on PATH)", 0},
	{"check-timeout", 0, OPT_SECONDS, RO(check_timeout), "SECONDS", "timeout of each registry check request (default 10)", 0},
	{"executor", 0, OPT_STRING, RO(executor), "PATH", "Kaniko executor (default /kaniko/executor)", 0},
	{"idle-timeout", 0, OPT_SECONDS, RO(idle_timeout), "SECONDS", "close connections that send nothing this long (default 30; 3600 with -address)", 0},
	{"isolation", 0, OPT_STRING, RO(isolation), "MODE", "buildah isolation (default chroot)", 0},
	{"kill-timeout", 0, OPT_SECONDS, RO(kill_timeout), "SECONDS", "wait this long after SIGTERM before SIGKILL (default 5)", 0},
	{"listen", 'l', OPT_LIST, RO(listen), "ADDR", "tcp://HOST:PORT or unix:///path (default tcp://127.0.0.1:9000)", 0},
	{"max-builds", 0, OPT_UINT, RO(max_builds), "N", "concurrent builds with --multiple (default 1 with kaniko, 4 with buildah)", 0},
	{"max-context-bytes", 0, OPT_UINT, RO(max_context_bytes), "SIZE", "largest extracted context (default 16G)", 0},
	{"max-context-entries", 0, OPT_UINT, RO(max_context_entries), "N", "most entries in a context (default 1000000)", 0},
	{"multiple", 0, OPT_BOOL, RO(multiple), NULL, "serve builds until stopped (default: one build, then exit)", OPT_SINGLE_DASH},
	{"pass-env", 0, OPT_LIST, RO(pass_env), "NAME", "pass this environment variable to the builder", 0},
	{"preflight", 0, OPT_STRING, RO(preflight), "MODE", "registry checks: enforce (default), warn or off", 0},
	{"registry-ca-file", 0, OPT_LIST, RO(registry_ca_files), "HOST=FILE", "CA bundle for one registry", 0},
	{"shared-workspace", 0, OPT_STRING, RO(shared_workspace), "DIR", "legacy clients' --context must lie here (default /workspace)", 0},
	{"shutdown-grace", 0, OPT_SECONDS, RO(shutdown_grace), "SECONDS", "on SIGTERM, let builds finish this long (default 30)", 0},
	{"skip-tls-verify-registry", 0, OPT_LIST, RO(skip_tls_verify), "HOST", "do not verify this registry's certificate", 0},
	{"storage-driver", 0, OPT_STRING, RO(storage_driver), "NAME", "buildah storage driver (default vfs)", 0},
	{"unix-mode", 0, OPT_STRING, RO(unix_mode), "MODE", "mode of unix socket files (default 0660)", 0},
	{"verbose", 'v', OPT_BOOL, RO(verbose), NULL, "debug logging", 0},
	{"warm", 0, OPT_BOOL, RO(warm), NULL, "warm the base-image cache before every build", 0},
	{"warmer", 0, OPT_STRING, RO(warmer), "PATH", "Kaniko warmer (default /kaniko/warmer)", 0},
	{"workspace", 0, OPT_STRING, RO(workspace), "DIR", "parent of per-build workspaces (default /kaniko/r2k for kaniko, $TMPDIR otherwise)", 0},
	{NULL, 0, 0, 0, NULL, NULL, 0},
};
/* clang-format on */
#undef RO

#define KO(f) offsetof(struct check_config, f)
/* clang-format off */
static const struct opt check_opts[] = {
	{"build-arg", 0, OPT_LIST, KO(build_args), "K=V", "build argument for FROM lines", 0},
	{"cache-dir", 0, OPT_STRING, KO(cache_dir), "DIR", "report whether base images are in this Kaniko cache", 0},
	{"cache-repo", 0, OPT_LIST, KO(cache_repos), "REPO", "cache repository: reachable, credentials, number of tags", 0},
	{"dockerfile", 'f', OPT_STRING, KO(dockerfile), "FILE", "check the base images this Dockerfile names", 0},
	{"insecure-registry", 0, OPT_LIST, KO(insecure_registries), "HOST", "registry reached over plain HTTP", 0},
	{"json", 0, OPT_BOOL, KO(json), NULL, "one JSON object per result", 0},
	{"platform", 0, OPT_STRING, KO(platform), "PLATFORM", "platform for image indexes with --cache-dir (default the host's)", 0},
	{"push", 0, OPT_BOOL, KO(push), NULL, "also check that pushing to image references is allowed", 0},
	{"registry-ca-file", 0, OPT_LIST, KO(registry_ca_files), "HOST=FILE", "CA bundle for one registry", 0},
	{"registry-credentials", 0, OPT_LIST, KO(registry_credentials), "K=V", "registry credential field: registry, username, password, auth or insecure", 0},
	{"retries", 0, OPT_UINT, KO(retries), "N", "retries after failed connections and 502, 503, 504 answers (default 3)", 0},
	{"skip-tls-verify-registry", 0, OPT_LIST, KO(skip_tls_verify), "HOST", "do not verify this registry's certificate", 0},
	{"timeout", 0, OPT_SECONDS, KO(timeout), "SECONDS", "timeout of one request attempt (default 10)", 0},
	{"verbose", 'v', OPT_BOOL, KO(verbose), NULL, "debug messages", 0},
	{NULL, 0, 0, 0, NULL, NULL, 0},
};
/* clang-format on */
#undef KO

const struct opt_cmd cli_client_cmd = {
        "client",
        "r2k client [OPTIONS]",
        "Stream a build context and build flags to an r2k runner; relay the builder's\n"
        "stdout, stderr and exit status.",
        client_opts,
        OPT_NO_POSITIONAL,
        "Exit status: the builder's exit code; 128+N if it died of signal N;\n"
        "see 'Exit status' in README.md for r2k's own failures (64-79;\n"
        "130 and 143 when cancelled).\n",
};

const struct opt_cmd cli_runner_cmd = {
        "runner",
        "r2k runner [OPTIONS]",
        "Accept builds from r2k clients (and legacy kaniko-runner clients), extract\n"
        "each context, run the builder and stream its output back.",
        runner_opts,
        OPT_NO_POSITIONAL,
        NULL,
};

const struct opt_cmd cli_check_cmd = {
        "check",
        "r2k check [OPTIONS] TARGET...",
        "Check registries and images: reachability, credentials, push permission,\n"
        "cache warmth and base images. TARGET is a registry host or image reference.",
        check_opts,
        offsetof(struct check_config, targets),
        "A TARGET is a registry when it has a scheme (https:// or http:// forces it),\n"
        "ends with '/', or is a host with a '.', localhost or an [IPv6] address;\n"
        "otherwise an image (busybox: registry-1.docker.io/library/busybox:latest).\n"
        "Exit status: 0 when every check passed, 1 when one failed, 2 for usage\n"
        "errors, 70 when libcurl cannot start.\n",
};

void cli_client_defaults(struct client_config *c)
{
	memset(c, 0, sizeof(*c));
	c->push = true;
	c->connect_timeout = 30;
}

void cli_runner_defaults(struct runner_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_builds = CLI_MAX_BUILDS_UNSET; /* then 1 with Kaniko, 4 with buildah */
	c->max_context_bytes = 16ull << 30;
	c->max_context_entries = 1000000;
	c->idle_timeout = CLI_IDLE_TIMEOUT_UNSET;
	c->shutdown_grace = 30;
	c->kill_timeout = 5;
	c->check_timeout = 10;
}

void cli_check_defaults(struct check_config *c)
{
	memset(c, 0, sizeof(*c));
	c->timeout = 10;
	c->retries = 3;
}

/* Free every field an option table can set: strings and lists. */
static void free_fields(const struct opt *opts, void *cfg)
{
	for (const struct opt *o = opts; o->name; o++) {
		char *field = (char *)cfg + o->offset;
		if (o->kind == OPT_STRING) {
			free(*(char **)field);
			*(char **)field = NULL;
		} else if (o->kind == OPT_LIST) {
			strlist_free((struct strlist *)field);
		}
	}
}

void cli_client_free(struct client_config *c)
{
	free_fields(client_opts, c);
}
void cli_runner_free(struct runner_config *c)
{
	free_fields(runner_opts, c);
}

void cli_check_free(struct check_config *c)
{
	free_fields(check_opts, c);
	strlist_free(&c->targets);
}
