/* msg_version.c: builds the /version JSON document with cJSON. */
#include "msg_version.h"

#include <cjson/cJSON.h>
#include <uv.h>

char *msg_version_encode(const struct version_info *v)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "name", "r2k");
	cJSON_AddStringToObject(o, "version", v->version);
	cJSON_AddNumberToObject(o, "protocol", v->protocol);
	cJSON_AddStringToObject(o, "backend", v->backend);
	cJSON_AddStringToObject(o, "mode", v->mode);
	cJSON_AddNumberToObject(o, "max_builds", (double)v->max_builds);
	cJSON_AddNumberToObject(o, "uptime_seconds", v->uptime_seconds);
	cJSON *libs = cJSON_AddObjectToObject(o, "libraries");
	if (libs) {
		cJSON_AddStringToObject(libs, "libuv", uv_version_string());
		cJSON_AddStringToObject(libs, "cjson", cJSON_Version());
	}
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}
