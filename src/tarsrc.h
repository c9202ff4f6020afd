/* tarsrc.h: a directory turned into a pax tar stream on demand, one bounded step at a time. */
#ifndef R2K_TARSRC_H
#define R2K_TARSRC_H

#include <stddef.h>
#include <stdint.h>

struct tarsrc;

/* Called for entries that are left out of the stream (FIFOs, sockets, devices). */
typedef void (*tarsrc_warn_cb)(const char *msg, void *arg);

/*
 * Start streaming the directory dir. Nothing but regular files and
 * directories is ever opened; symbolic links are stored as links. Returns
 * NULL with a reason in err when dir cannot be opened.
 */
struct tarsrc *tarsrc_open(const char *dir, tarsrc_warn_cb warn, void *arg, char *err,
                           size_t errlen);
/*
 * Produce up to cap bytes of the stream into buf; *len is set to the bytes
 * written. Returns 1 when more is to come, 0 when the stream is complete
 * (the last bytes may be in this call's buf), -1 on error (tarsrc_error()
 * names the entry and the reason). File data is read straight into buf.
 */
int tarsrc_fill(struct tarsrc *t, uint8_t *buf, size_t cap, size_t *len);
/* The last error's message. */
const char *tarsrc_error(const struct tarsrc *t);
/* Number of entries written so far. */
uint64_t tarsrc_entries(const struct tarsrc *t);
/* Close every open directory and file and free t. */
void tarsrc_free(struct tarsrc *t);

#endif
