/* extract.h: streaming, secure extraction of a tar (or tar.gz) context into a directory. */
#ifndef R2K_EXTRACT_H
#define R2K_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct extract;

/* Input queue marks, in bytes: above high the feeder is asked to pause, below low to resume. */
#define EXTRACT_HIGH_MARK (2u << 20)
#define EXTRACT_LOW_MARK  (1u << 20)

struct extract_opts {
	const char *root;      /* existing, empty directory to extract into */
	uint64_t max_bytes;    /* most file data bytes (decompressed); 0: no limit */
	uint64_t max_entries;  /* most archive entries; 0: no limit */
	unsigned long conn_id; /* for log lines */
	const char *watch;     /* normalised path reported through cbs.file once written, or NULL */
};

/* Most bytes of a watched file that are read (extract_read_text's limit). */
#define EXTRACT_WATCH_MAX (1u << 20)

struct extract_cbs {
	/*
	 * Ask the feeder to stop (pause true) or resume feeding: the input queue
	 * went above EXTRACT_HIGH_MARK, or drained below EXTRACT_LOW_MARK.
	 */
	void (*flow)(struct extract *x, bool pause, void *arg);
	/*
	 * Extraction ended: code 0 when every entry was extracted and the input
	 * matched extract_finish's total and checksum; otherwise an r2k error
	 * code (R2K_ERR_CONTEXT, R2K_ERR_INTERNAL, R2K_ERR_CANCELLED) and msg
	 * naming the entry and the reason. Called once, from the loop, and only
	 * after the worker thread stopped; x is freed when it returns.
	 */
	void (*done)(struct extract *x, int code, const char *msg, void *arg);
	/*
	 * Optional: the first entry named opts->watch was written completely;
	 * text[0..len) is its content (NUL-terminated), read by the worker right
	 * after writing it, at most EXTRACT_WATCH_MAX bytes (truncated set when
	 * there is more); text is NULL with the reason in why when it could not
	 * be read as a regular file. Called from the loop, at most once, before
	 * done; the buffers are valid only during the call.
	 */
	void (*file)(struct extract *x, const char *text, size_t len, bool truncated,
	             const char *why, void *arg);
};

/*
 * Start the extraction worker thread on opts->root. Returns 0, or -1 with
 * a reason in err (no callback follows).
 */
int extract_start(uv_loop_t *loop, const struct extract_opts *opts, const struct extract_cbs *cbs,
                  void *arg, struct extract **out, char *err, size_t errlen);
/*
 * Queue data[0..len) (copied) and fold it into the byte count and SHA-256.
 * Data fed after the worker stopped is counted and dropped.
 */
void extract_feed(struct extract *x, const uint8_t *data, size_t len);
/*
 * End of input: total and sha256 are what the sender says it sent (the
 * CONTEXT_END frame); a mismatch fails the extraction with R2K_ERR_CONTEXT.
 */
void extract_finish(struct extract *x, uint64_t total, const uint8_t sha256[32]);
/* Stop as soon as possible; done follows with R2K_ERR_CANCELLED unless it already ended. */
void extract_cancel(struct extract *x);
/* Input bytes fed so far. */
uint64_t extract_received(const struct extract *x);

/*
 * Read the regular file rel (normalised) below the directory root without
 * following symlinks, at most max bytes, into a malloc'd NUL-terminated
 * *out (length *len; *truncated when the file is longer). Returns 0, or -1
 * with a reason in why.
 */
int extract_read_text(int rootfd, const char *rel, size_t max, char **out, size_t *len,
                      bool *truncated, char *why, size_t whylen);

/*
 * Remove path and everything below it without following symlinks (a
 * workspace). Returns 0, or -1 with errno set.
 */
int extract_remove_tree(const char *path);

#endif
