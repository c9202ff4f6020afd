/* check_stub.c: placeholder entry point until the check role lands. */
#include <stdio.h>

#include "cli.h"
#include "roles.h"

int check_main(int argc, char **argv)
{
	struct check_config cfg;
	cli_check_defaults(&cfg);
	int rc = opts_parse(&cli_check_cmd, argc, argv, &cfg);
	cli_check_free(&cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	fprintf(stderr, "r2k check: not available in this build\n");
	return R2K_EXIT_INTERNAL;
}
