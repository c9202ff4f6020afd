/* version.h: the `version` subcommand. */
#ifndef R2K_VERSION_H
#define R2K_VERSION_H

#include "proto.h"

int version_main(int argc, char **argv);

#endif
