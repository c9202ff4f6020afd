/* fuzz_request.c: build-request decoding must reject or accept any bytes without crashing or
 * leaking. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct build_request r;
	char err[256];
	if (msg_request_decode((const char *)data, size, &r, err, sizeof(err)) == 0) {
		/* What decodes must encode and decode again to the same request. */
		char *json = msg_request_encode(&r);
		struct build_request back;
		if (!json || msg_request_decode(json, strlen(json), &back, err, sizeof(err)) != 0)
			abort();
		if (back.destinations.n != r.destinations.n || back.ncreds != r.ncreds ||
		    back.push != r.push)
			abort();
		msg_request_free(&back);
		free(json);
		msg_request_free(&r);
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	return 0;
}
