/* fuzz_dockerfile.c: FROM extraction and image references never crash, leak or overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dockerfile.h"
#include "imageref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct strlist args = {0}, imgs = {0};
	char err[256];
	strlist_push(&args, "TAG=1");
	if (dockerfile_base_images(s, &args, NULL, &imgs, err, sizeof(err)) == 0) {
		for (size_t i = 0; i < imgs.n; i++) {
			struct imageref r;
			imageref_parse(imgs.v[i], &r, err, sizeof(err));
		}
	}
	struct imageref r;
	imageref_parse(s, &r, err, sizeof(err));
	strlist_free(&args);
	strlist_free(&imgs);
	free(s);
	return 0;
}
