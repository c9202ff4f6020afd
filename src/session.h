/* session.h: one r2k framed-protocol build on the runner (session_start is in runner.h). */
#ifndef R2K_SESSION_H
#define R2K_SESSION_H

#include "runner.h"

/* The client exit status an ERROR code stands for (docs/protocol.md, "Error codes"). */
int session_error_status(int code);

#endif
