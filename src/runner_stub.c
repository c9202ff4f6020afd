/* runner_stub.c: placeholder entry point until the runner role lands. */
#include <stdio.h>

#include "cli.h"
#include "roles.h"

int runner_main(int argc, char **argv)
{
	struct runner_config cfg;
	cli_runner_defaults(&cfg);
	int rc = opts_parse(&cli_runner_cmd, argc, argv, &cfg);
	cli_runner_free(&cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	fprintf(stderr, "r2k runner: not available in this build\n");
	return R2K_EXIT_INTERNAL;
}
