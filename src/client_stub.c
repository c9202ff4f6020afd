/* client_stub.c: placeholder entry point until the client role lands. */
#include <stdio.h>

#include "cli.h"
#include "roles.h"

int client_main(int argc, char **argv)
{
	struct client_config cfg;
	cli_client_defaults(&cfg);
	int rc = opts_parse(&cli_client_cmd, argc, argv, &cfg);
	cli_client_free(&cfg);
	if (rc)
		return rc == 1 ? 0 : rc;
	fprintf(stderr, "r2k client: not available in this build\n");
	return R2K_EXIT_INTERNAL;
}
