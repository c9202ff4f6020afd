/* version.c: `r2k version`: r2k's version and its libraries', built with and running. */
#include "version.h"

#include <archive.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <llhttp.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "lazylib.h"

int version_main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("Usage: r2k version\n\nShow r2k's version and the versions of the "
		       "libraries it was built with and runs with.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "r2k version: unexpected argument '%s'\n", argv[1]);
		return 2;
	}
	char curl_err[512], archive_err[512];
	/* Both are loaded at run time (lazylib.h): say so when one cannot be. */
	bool have_curl = lib_curl_load(curl_err, sizeof(curl_err)) == 0;
	bool have_archive = lib_archive_load(archive_err, sizeof(archive_err)) == 0;
	printf("r2k %s\n", R2K_VERSION);
	printf("%-12s %-24s %s\n", "library", "built with", "running");
	char uvb[32];
	snprintf(uvb, sizeof(uvb), "%d.%d.%d", UV_VERSION_MAJOR, UV_VERSION_MINOR,
	         UV_VERSION_PATCH);
	printf("%-12s %-24s %s\n", "libuv", uvb, uv_version_string());
	printf("%-12s %-24s %s\n", "libcurl", LIBCURL_VERSION,
	       have_curl ? curl_version_info(CURLVERSION_NOW)->version : curl_err);
	printf("%-12s %-24s %s\n", "libarchive", ARCHIVE_VERSION_ONLY_STRING,
	       have_archive ? &archive_version_string()[sizeof("libarchive ") - 1] : archive_err);
	char cj[32];
	snprintf(cj, sizeof(cj), "%d.%d.%d", CJSON_VERSION_MAJOR, CJSON_VERSION_MINOR,
	         CJSON_VERSION_PATCH);
	printf("%-12s %-24s %s\n", "cJSON", cj, cJSON_Version());
	char lh[32];
	snprintf(lh, sizeof(lh), "%d.%d.%d", LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR,
	         LLHTTP_VERSION_PATCH);
	printf("%-12s %-24s %s\n", "llhttp", lh, "(linked statically)");
	printf("%-12s %-24s %s\n", "OpenSSL", &OPENSSL_VERSION_TEXT[sizeof("OpenSSL ") - 1],
	       &OpenSSL_version(OPENSSL_VERSION)[sizeof("OpenSSL ") - 1]);
	printf("protocol     %d\n", R2K_PROTO_VERSION);
	return 0;
}
