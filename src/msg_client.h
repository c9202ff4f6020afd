/* msg_client.h: JSON the client reads (credential variables) and writes (--json lines). */
#ifndef R2K_MSG_CLIENT_H
#define R2K_MSG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg.h"

/*
 * Each msg_json_* returns one JSON object as a malloc'd NUL-terminated string
 * without a newline (README.md, "Client", describes the schema). Text that
 * is not valid UTF-8 has its bad bytes replaced by U+FFFD; stream data that
 * is not valid UTF-8 goes out as "data_base64" instead of "data".
 */
char *msg_json_stream(const char *stream, const uint8_t *data, size_t len);
/* {"check":{...}} from a CHECK payload; NULL when it is not a JSON object. */
char *msg_json_check(const char *json, size_t len);
/* {"log":{"level":L,"origin":O,"message":M}}; origin is "runner" or "client". */
char *msg_json_log(const char *level, const char *origin, const char *msg, size_t len);
/* {"exit":{"code":N|"signal":N,"digest":D,"status":S}}. */
char *msg_json_exit(bool signalled, int value, const char *digest, int status);
/*
 * {"error":{"code":C,"name":N,"origin":O,"message":M,"status":S}}; code 0
 * (errors found by the client itself) leaves "code" out.
 */
char *msg_json_error(int code, const char *name, const char *origin, const char *msg, size_t len,
                     int status);
/* Whether data[0..len) is valid UTF-8. */
bool msg_utf8_valid(const uint8_t *data, size_t len);

/*
 * Parse registry credentials from JSON: a list of {registry, username,
 * password | auth, insecure} objects or a single such object (a list only
 * when allow_list). An object without "registry" gets default_registry
 * (NULL: it is an error). Entries are appended to r->creds. Returns 0, or -1
 * with a message naming `what` and the entry in err (never a secret).
 */
int msg_creds_parse(const char *json, const char *what, bool allow_list,
                    const char *default_registry, struct build_request *r, char *err,
                    size_t errlen);

#endif
