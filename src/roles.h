/* roles.h: the entry point of each subcommand; main.c only picks one. */
#ifndef R2K_ROLES_H
#define R2K_ROLES_H

/* Each takes argv with argv[0] the subcommand name and returns the exit status. */
int client_main(int argc, char **argv);
int runner_main(int argc, char **argv);
int check_main(int argc, char **argv);
int version_main(int argc, char **argv);

/* Exit statuses of r2k's own failures (README.md, "Exit status"). */
enum r2k_exit_status {
	R2K_EXIT_OK = 0,
	R2K_EXIT_FAILURE = 1,     /* generic failure (r2k check: a check failed) */
	R2K_EXIT_USAGE = 2,       /* bad command line */
	R2K_EXIT_CONNECT = 69,    /* cannot connect to the runner */
	R2K_EXIT_PROTOCOL = 76,   /* protocol error or connection lost mid-build */
	R2K_EXIT_CONTEXT = 65,    /* context could not be read or was refused */
	R2K_EXIT_REFUSED = 77,    /* request refused by the runner (bad request, busy, preflight) */
	R2K_EXIT_INTERNAL = 70,   /* runner-side internal error or builder could not start */
	R2K_EXIT_CANCELLED = 130, /* cancelled with Ctrl-C */
};

#endif
