/* main.c: pick the role named by the first argument. */
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "cli.h"
#include "reaper.h"
#include "roles.h"

#define MALLOC_KEEP (4 << 20) /* freed heap memory kept for reuse, and the mmap threshold */

static void usage(FILE *out);
static void tune_malloc(void);

/*
 * Keep freed buffers for reuse. Context and output travel in buffers of 64
 * KiB to 1 MiB that live for one frame; with glibc's defaults each one is
 * mmap'd or trimmed off the heap when freed and faulted in again for the
 * next frame, which costs more than the data's copy. Setting both
 * thresholds also turns off glibc's adjusting them as it goes.
 */
static void tune_malloc(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, MALLOC_KEEP);
	mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP);
#endif
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: r2k COMMAND [OPTIONS]\n\n"
	             "Build container images with an unprivileged builder (Kaniko or buildah)\n"
	             "from a build context streamed over the network.\n\n"
	             "Commands:\n"
	             "  client    stream a build context to a runner and relay the build\n"
	             "  runner    accept builds and run the builder next to it\n"
	             "  check     check registries, credentials and base images\n"
	             "  version   show versions of r2k and its libraries\n"
	             "  help [COMMAND]  show help for a command\n");
}

int main(int argc, char **argv)
{
	tune_malloc();
	if (argc < 2) {
		usage(stderr);
		return R2K_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	/* Internal: the runner runs each builder below "r2k __reap" (reaper.c). */
	if (strcmp(cmd, REAPER_COMMAND) == 0)
		return reaper_main(argc - 1, argv + 1);
	if (strcmp(cmd, "client") == 0)
		return client_main(argc - 1, argv + 1);
	if (strcmp(cmd, "runner") == 0)
		return runner_main(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return check_main(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return version_main(argc - 1, argv + 1);
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (argc > 3) {
			fprintf(stderr, "r2k help: unexpected argument '%s'\n", argv[3]);
			return R2K_EXIT_USAGE;
		}
		if (argc < 3 || strcmp(argv[2], "help") == 0) {
			usage(stdout);
			return 0;
		}
		const struct opt_cmd *c = NULL;
		if (strcmp(argv[2], "client") == 0)
			c = &cli_client_cmd;
		else if (strcmp(argv[2], "runner") == 0)
			c = &cli_runner_cmd;
		else if (strcmp(argv[2], "check") == 0)
			c = &cli_check_cmd;
		else if (strcmp(argv[2], "version") == 0) {
			printf("Usage: r2k version\n\nShow r2k's version and the versions of the "
			       "libraries it was built with and runs with.\n");
			return 0;
		}
		if (!c) {
			fprintf(stderr, "r2k help: unknown command '%s'\n", argv[2]);
			return R2K_EXIT_USAGE;
		}
		opts_help(c);
		return 0;
	}
	fprintf(stderr, "r2k: unknown command '%s' (see 'r2k --help')\n", cmd);
	return R2K_EXIT_USAGE;
}
