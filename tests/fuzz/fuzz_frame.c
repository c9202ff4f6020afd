/* fuzz_frame.c: the frame decoder must never crash, over-read or over-allocate on any input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Active in every build type, unlike FUZZ_ASSERT(). */
#define FUZZ_ASSERT(c) ((c) ? (void)0 : abort())

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct r2k_decoder d;
	if (size < 1)
		return 0;
	/* First byte picks the chunk size, so that splits are fuzzed too. */
	size_t chunk = (size_t)(data[0] % 17) + 1;
	data++;
	size--;
	r2k_decoder_init(&d, true, 4096);
	size_t off = 0;
	int rc = 0;
	while (off < size && rc >= 0) {
		size_t n = size - off < chunk ? size - off : chunk;
		size_t used;
		struct r2k_frame f;
		while (n > 0) {
			rc = r2k_decoder_feed(&d, data + off, n, &used, &f);
			FUZZ_ASSERT(used <= n);
			off += used;
			n -= used;
			if (rc < 0)
				break;
			if (rc == 1) {
				FUZZ_ASSERT(f.len <= 4096);
				FUZZ_ASSERT(f.len == 0 || f.payload != NULL);
				/* Touch every payload byte so ASan sees any over-read. */
				volatile uint8_t sink = 0;
				for (uint32_t i = 0; i < f.len; i++)
					sink ^= f.payload[i];
				(void)sink;
				struct r2k_exit e;
				uint64_t total;
				uint8_t sha[32];
				uint16_t code;
				uint8_t lvl;
				const char *m;
				size_t ml;
				if (f.type == R2K_FRAME_EXIT)
					FUZZ_ASSERT(r2k_exit_decode(&f, &e) == 0);
				if (f.type == R2K_FRAME_CONTEXT_END)
					FUZZ_ASSERT(r2k_context_end_decode(&f, &total, sha) == 0);
				if (f.type == R2K_FRAME_ERROR)
					FUZZ_ASSERT(r2k_error_decode(&f, &code, &m, &ml) == 0);
				if (f.type == R2K_FRAME_LOG)
					FUZZ_ASSERT(r2k_log_decode(&f, &lvl, &m, &ml) == 0);
			} else if (used == 0) {
				break;
			}
		}
	}
	(void)r2k_decoder_finish(&d);
	r2k_decoder_free(&d);
	return 0;
}
