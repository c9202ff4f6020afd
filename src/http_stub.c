/* http_stub.c: placeholder protocol handler until the real one lands. */
#include <stdlib.h>

#include "runner.h"

static void closed(uv_handle_t *h) { free(h); }

void http_start(struct runner *r, uv_stream_t *s, const uint8_t *initial, size_t n)
{
	uv_close((uv_handle_t *)s, closed);
}
