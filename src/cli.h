/* cli.h: the configuration of each subcommand, filled from argv by its option table. */
#ifndef R2K_CLI_H
#define R2K_CLI_H

#include "opts.h"

/* r2k client: what to send and where. */
struct client_config {
	char *runner;                        /* ADDR of the runner; env R2K_RUNNER */
	char *context;                       /* directory to stream, or "-" for a tar on stdin */
	struct strlist destinations;         /* image references to push to */
	char *dockerfile;                    /* path inside the context; default Dockerfile */
	struct strlist build_args;           /* K=V */
	struct strlist labels;               /* K=V */
	char *platform;                      /* target platform, e.g. linux/amd64 */
	char *target;                        /* build stage to stop at */
	char *cache_registry;                /* cache repository */
	bool cache_registry_insecure;        /* cache repository over plain HTTP */
	struct strlist insecure_registries;  /* HOST[:PORT] reached over plain HTTP */
	char *cache_dir;                     /* Kaniko base-image cache directory on the runner */
	bool push;                           /* push after building; env KANIKO_PUSH_IMAGE */
	bool push_set;                       /* set when --push/--no-push was given */
	struct strlist registry_credentials; /* KEY=VALUE, one registry per 'registry=' */
	struct strlist cache_registry_credentials; /* KEY=VALUE for the cache registry */
	bool warm;              /* ask the runner to warm the base-image cache first */
	bool json;              /* JSON lines on stdout instead of raw streams */
	char *progress;         /* auto|always|never */
	double connect_timeout; /* seconds to wait for the connection */
	bool verbose;           /* debug messages from r2k itself */
};

/* r2k runner: how to serve and how to build. */
/* runner_config.max_builds before validation: the backend picks the default. */
#define CLI_MAX_BUILDS_UNSET UINT64_MAX

struct runner_config {
	struct strlist listen;            /* tcp://HOST:PORT or unix:///path */
	struct strlist address;           /* kaniko-runner's -address: joins listen */
	char *unix_mode;                  /* octal mode of unix socket files; default 0660 */
	bool multiple;                    /* serve builds until stopped instead of one */
	uint64_t max_builds;              /* concurrent builds with --multiple */
	char *workspace;                  /* parent of per-build workspaces */
	uint64_t max_context_bytes;       /* limit on the decompressed context size */
	uint64_t max_context_entries;     /* limit on the number of tar entries */
	char *backend;                    /* kaniko|buildah */
	char *executor;                   /* Kaniko executor path */
	char *warmer;                     /* Kaniko warmer path */
	char *buildah;                    /* buildah path */
	char *isolation;                  /* buildah --isolation */
	char *storage_driver;             /* buildah --storage-driver */
	char *preflight;                  /* enforce|warn|off */
	bool warm;                        /* warm the base-image cache before building */
	struct strlist registry_ca_files; /* HOST=FILE */
	struct strlist skip_tls_verify;   /* HOST */
	struct strlist pass_env;          /* NAME: passed from the runner to the builder */
	char *shared_workspace;           /* legacy protocol: --context must lie inside this */
	double idle_timeout;              /* close connections that send nothing this long */
#define CLI_IDLE_TIMEOUT_UNSET (-1.0)     /* then 30 s, or 3600 s with -address */
	double shutdown_grace;            /* SIGTERM: how long running builds may finish */
	double kill_timeout;              /* SIGTERM to SIGKILL delay when cancelling a builder */
	double check_timeout;             /* per-check timeout */
	bool verbose;                     /* debug logging */
};

/* r2k check: registries and images to probe. */
struct check_config {
	bool json;                           /* one JSON object per result instead of a table */
	double timeout;                      /* seconds for one attempt of one request */
	uint64_t retries;                    /* extra attempts after connection-level failures */
	struct strlist insecure_registries;  /* HOST reached over plain HTTP */
	struct strlist registry_credentials; /* KEY=VALUE, one registry per 'registry=' */
	bool push;                  /* image targets are destinations: check push permission */
	char *dockerfile;           /* check the base images of this Dockerfile */
	struct strlist build_args;  /* K=V for the Dockerfile's ARGs */
	struct strlist cache_repos; /* cache repositories (Kaniko --cache-repo) */
	struct strlist registry_ca_files; /* HOST=FILE */
	struct strlist skip_tls_verify;   /* HOST */
	char *cache_dir;                  /* Kaniko base-image cache directory to look in */
	char *platform;                   /* os/arch[/variant] picked from image indexes */
	struct strlist targets;           /* positional: registry hosts or image references */
	bool verbose;
};

extern const struct opt_cmd cli_client_cmd;
extern const struct opt_cmd cli_runner_cmd;
extern const struct opt_cmd cli_check_cmd;

/* Fill defaults before parsing. */
void cli_client_defaults(struct client_config *c);
void cli_runner_defaults(struct runner_config *c);
void cli_check_defaults(struct check_config *c);
void cli_client_free(struct client_config *c);
void cli_runner_free(struct runner_config *c);
void cli_check_free(struct check_config *c);

#endif
