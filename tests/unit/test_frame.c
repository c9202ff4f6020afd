/* test_frame.c: the frame codec under every chunking, every frame type and every error. */
#include <stdint.h>

#include "frame.h"
#include "t.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (n == 0)
		return;
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_frame(struct buf *b, uint16_t type, const void *payload, uint32_t len)
{
	uint8_t h[R2K_HEADER_LEN];
	r2k_encode_header(h, type, len);
	put(b, h, sizeof(h));
	put(b, payload, len);
}

/* A whole exchange with one frame of every type. */
static struct buf sample_stream(void)
{
	struct buf b = {0};
	uint8_t pre[R2K_PREAMBLE_LEN], p[256];
	r2k_encode_preamble(pre, R2K_PROTO_VERSION);
	put(&b, pre, sizeof(pre));
	const char *req = "{\"destinations\":[\"localhost:5000/x:1\"]}";
	put_frame(&b, R2K_FRAME_REQUEST, req, (uint32_t)strlen(req));
	uint8_t big[5000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	put_frame(&b, R2K_FRAME_CONTEXT, big, sizeof(big));
	uint8_t sha[32];
	memset(sha, 0xab, sizeof(sha));
	r2k_context_end_encode(p, 5000, sha);
	put_frame(&b, R2K_FRAME_CONTEXT_END, p, R2K_CONTEXT_END_LEN);
	put_frame(&b, R2K_FRAME_KEEPALIVE, NULL, 0);
	const char *chk = "{\"kind\":\"reachability\"}";
	put_frame(&b, R2K_FRAME_CHECK, chk, (uint32_t)strlen(chk));
	put_frame(&b, R2K_FRAME_STDOUT, "out\n", 4);
	put_frame(&b, R2K_FRAME_STDERR, "err", 3);
	size_t n = r2k_log_encode(p, sizeof(p), R2K_LOG_WARN, "a log line");
	put_frame(&b, R2K_FRAME_LOG, p, (uint32_t)n);
	n = r2k_error_encode(p, sizeof(p), R2K_ERR_CONTEXT, "bad entry ../x");
	put_frame(&b, R2K_FRAME_ERROR, p, (uint32_t)n);
	put_frame(&b, R2K_FRAME_CANCEL, NULL, 0);
	struct r2k_exit e = {R2K_EXIT_CODE, 3, "sha256:0123"};
	n = r2k_exit_encode(p, sizeof(p), &e);
	put_frame(&b, R2K_FRAME_EXIT, p, (uint32_t)n);
	return b;
}

static const uint16_t sample_types[] = {
        R2K_FRAME_REQUEST, R2K_FRAME_CONTEXT, R2K_FRAME_CONTEXT_END, R2K_FRAME_KEEPALIVE,
        R2K_FRAME_CHECK,   R2K_FRAME_STDOUT,  R2K_FRAME_STDERR,      R2K_FRAME_LOG,
        R2K_FRAME_ERROR,   R2K_FRAME_CANCEL,  R2K_FRAME_EXIT,
};

/* Decode b in chunks chosen by next_chunk; check every frame's content. */
static void decode_all(const struct buf *b, size_t (*next_chunk)(size_t), int *nframes)
{
	struct r2k_decoder d;
	r2k_decoder_init(&d, true, 0);
	size_t off = 0;
	*nframes = 0;
	while (off < b->len) {
		size_t n = next_chunk(b->len - off);
		if (n > b->len - off)
			n = b->len - off;
		size_t pos = 0;
		while (pos < n) {
			size_t used;
			struct r2k_frame f;
			int rc = r2k_decoder_feed(&d, b->p + off + pos, n - pos, &used, &f);
			CHECK(rc >= 0);
			if (rc < 0)
				goto out;
			pos += used;
			if (rc == 0)
				break;
			CHECK(*nframes < 11);
			if (*nframes >= 11)
				goto out;
			CHECK_EQ(f.type, sample_types[*nframes]);
			if (f.type == R2K_FRAME_CONTEXT) {
				CHECK_EQ(f.len, 5000);
				int ok = 1;
				for (size_t i = 0; i < f.len; i++)
					ok &= f.payload[i] == (uint8_t)(i * 7);
				CHECK(ok);
			} else if (f.type == R2K_FRAME_CONTEXT_END) {
				uint64_t total;
				uint8_t sha[32];
				CHECK_EQ(r2k_context_end_decode(&f, &total, sha), 0);
				CHECK_EQ(total, 5000);
				CHECK_EQ(sha[31], 0xab);
			} else if (f.type == R2K_FRAME_EXIT) {
				struct r2k_exit e;
				CHECK_EQ(r2k_exit_decode(&f, &e), 0);
				CHECK_EQ(e.how, R2K_EXIT_CODE);
				CHECK_EQ(e.value, 3);
				CHECK_STR(e.digest, "sha256:0123");
			} else if (f.type == R2K_FRAME_ERROR) {
				uint16_t code;
				const char *m;
				size_t ml;
				CHECK_EQ(r2k_error_decode(&f, &code, &m, &ml), 0);
				CHECK_EQ(code, R2K_ERR_CONTEXT);
				CHECK(ml == 14 && memcmp(m, "bad entry ../x", 14) == 0);
			} else if (f.type == R2K_FRAME_LOG) {
				uint8_t lvl;
				const char *m;
				size_t ml;
				CHECK_EQ(r2k_log_decode(&f, &lvl, &m, &ml), 0);
				CHECK_EQ(lvl, R2K_LOG_WARN);
				CHECK(ml == 10 && memcmp(m, "a log line", 10) == 0);
			} else if (f.type == R2K_FRAME_STDERR) {
				CHECK(f.len == 3 && memcmp(f.payload, "err", 3) == 0);
			}
			(*nframes)++;
		}
		off += n;
	}
	CHECK_EQ(r2k_decoder_finish(&d), 0);
out:
	r2k_decoder_free(&d);
}

static size_t one(size_t left)
{
	return 1;
}
static size_t whole(size_t left)
{
	return left;
}
static size_t rnd(size_t left)
{
	return (size_t)(rand() % 97) + 1;
}

static void test_byte_by_byte(void)
{
	struct buf b = sample_stream();
	int n;
	decode_all(&b, one, &n);
	CHECK_EQ(n, 11);
	free(b.p);
}

static void test_whole_buffer(void)
{
	struct buf b = sample_stream();
	int n;
	decode_all(&b, whole, &n);
	CHECK_EQ(n, 11);
	free(b.p);
}

static void test_random_splits(void)
{
	struct buf b = sample_stream();
	srand(12345);
	for (int i = 0; i < 200; i++) {
		int n;
		decode_all(&b, rnd, &n);
		CHECK_EQ(n, 11);
	}
	free(b.p);
}

/* Feed raw bytes to a fresh decoder; return the first error or the finish result. */
static int decode_raw(const uint8_t *p, size_t len, bool preamble, uint32_t max, bool *allocated)
{
	struct r2k_decoder d;
	r2k_decoder_init(&d, preamble, max);
	size_t off = 0;
	int rc = 0;
	while (off < len) {
		size_t used;
		struct r2k_frame f;
		rc = r2k_decoder_feed(&d, p + off, len - off, &used, &f);
		off += used;
		if (rc <= 0)
			break;
	}
	if (rc >= 0)
		rc = r2k_decoder_finish(&d);
	if (allocated)
		*allocated = d.buf != NULL;
	r2k_decoder_free(&d);
	return rc;
}

static void test_errors(void)
{
	uint8_t b[64];
	bool alloc;

	/* Bad magic: detected on the first differing byte. */
	CHECK_EQ(decode_raw((const uint8_t *)"{\"command\"", 10, true, 0, NULL), R2K_FRAME_EMAGIC);
	CHECK_EQ(decode_raw((const uint8_t *)"G", 1, true, 0, NULL), R2K_FRAME_EMAGIC);

	/* Wrong version. */
	r2k_encode_preamble(b, 2);
	CHECK_EQ(decode_raw(b, R2K_PREAMBLE_LEN, true, 0, NULL), R2K_FRAME_EVERSION);

	/* Payload over the maximum: refused before any allocation. */
	r2k_encode_header(b, R2K_FRAME_CONTEXT, R2K_MAX_PAYLOAD + 1);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, &alloc), R2K_FRAME_ETOOBIG);
	CHECK(!alloc);
	r2k_encode_header(b, R2K_FRAME_CONTEXT, 0xffffffffu);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, &alloc), R2K_FRAME_ETOOBIG);
	CHECK(!alloc);
	r2k_encode_header(b, R2K_FRAME_STDOUT, 101);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 100, &alloc), R2K_FRAME_ETOOBIG);

	/* Unknown type. */
	r2k_encode_header(b, 0x0999, 0);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, NULL), R2K_FRAME_ETYPE);

	/* Wrong length for fixed layouts. */
	r2k_encode_header(b, R2K_FRAME_CONTEXT_END, 39);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, NULL), R2K_FRAME_ELENGTH);
	r2k_encode_header(b, R2K_FRAME_CANCEL, 1);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, NULL), R2K_FRAME_ELENGTH);
	r2k_encode_header(b, R2K_FRAME_EXIT, 4);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN, false, 0, NULL), R2K_FRAME_ELENGTH);

	/* Truncated: inside the preamble, a header, a payload. */
	r2k_encode_preamble(b, R2K_PROTO_VERSION);
	CHECK_EQ(decode_raw(b, 5, true, 0, NULL), R2K_FRAME_ETRUNCATED);
	CHECK_EQ(decode_raw(b, R2K_PREAMBLE_LEN, true, 0, NULL), 0);
	r2k_encode_header(b, R2K_FRAME_STDOUT, 10);
	CHECK_EQ(decode_raw(b, 3, false, 0, NULL), R2K_FRAME_ETRUNCATED);
	memcpy(b + R2K_HEADER_LEN, "hello", 5);
	CHECK_EQ(decode_raw(b, R2K_HEADER_LEN + 5, false, 0, NULL), R2K_FRAME_ETRUNCATED);

	/* Errors are sticky and distinct. */
	CHECK(strcmp(r2k_frame_strerror(R2K_FRAME_EMAGIC), r2k_frame_strerror(R2K_FRAME_ETYPE)) !=
	      0);
	struct r2k_decoder d;
	r2k_decoder_init(&d, true, 0);
	size_t used;
	struct r2k_frame f;
	CHECK_EQ(r2k_decoder_feed(&d, (const uint8_t *)"x", 1, &used, &f), R2K_FRAME_EMAGIC);
	CHECK_EQ(r2k_decoder_feed(&d, b, 4, &used, &f), R2K_FRAME_EMAGIC);
	CHECK_EQ(used, 0);
	r2k_decoder_free(&d);
}

static void test_zero_copy(void)
{
	/* A payload wholly inside the input is handed out without copying. */
	uint8_t b[R2K_HEADER_LEN + 4];
	r2k_encode_header(b, R2K_FRAME_STDOUT, 4);
	memcpy(b + R2K_HEADER_LEN, "abcd", 4);
	struct r2k_decoder d;
	r2k_decoder_init(&d, false, 0);
	size_t used;
	struct r2k_frame f;
	CHECK_EQ(r2k_decoder_feed(&d, b, sizeof(b), &used, &f), 1);
	CHECK(f.payload == b + R2K_HEADER_LEN);
	CHECK_EQ(used, sizeof(b));
	CHECK(d.buf == NULL);
	r2k_decoder_free(&d);
}

/* What a reserve hook was asked, and how much it lets the decoder hold. */
struct reserve_log {
	size_t held, limit, calls, last_old, last_new;
};

static bool reserve_cb(void *arg, size_t old_cap, size_t new_cap)
{
	struct reserve_log *r = arg;
	r->calls++;
	r->last_old = old_cap;
	r->last_new = new_cap;
	CHECK_EQ(old_cap, r->held);
	if (new_cap > r->limit)
		return false;
	r->held = new_cap;
	return true;
}

static void test_reserve_as_bytes_arrive(void)
{
	static uint8_t chunk[200000];
	uint8_t h[R2K_HEADER_LEN];
	struct r2k_decoder d;
	struct r2k_frame f;
	size_t used;
	struct reserve_log r = {.limit = 1u << 20};

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 13);
	/* A header declaring the largest REQUEST allocates nothing by itself... */
	r2k_decoder_init(&d, false, 0);
	r2k_decoder_set_reserve(&d, reserve_cb, &r);
	r2k_encode_header(h, R2K_FRAME_REQUEST, R2K_MAX_PAYLOAD);
	CHECK_EQ(r2k_decoder_feed(&d, h, sizeof(h), &used, &f), 0);
	CHECK(d.buf == NULL);
	CHECK_EQ(r.calls, 0);
	/* ...and the buffer grows with what arrives, in powers of two from 64 KiB. */
	CHECK_EQ(r2k_decoder_feed(&d, chunk, 100, &used, &f), 0);
	CHECK_EQ(r.held, 65536);
	CHECK_EQ(d.buf_cap, 65536);
	CHECK_EQ(r2k_decoder_feed(&d, chunk + 100, sizeof(chunk) - 100, &used, &f), 0);
	CHECK_EQ(r.held, 262144);
	CHECK_EQ(d.buf_cap, 262144);
	size_t have = sizeof(chunk);
	while (have < R2K_MAX_PAYLOAD) {
		size_t n = R2K_MAX_PAYLOAD - have < sizeof(chunk) ? R2K_MAX_PAYLOAD - have
		                                                  : sizeof(chunk);
		int rc = r2k_decoder_feed(&d, chunk, n, &used, &f);
		have += n;
		CHECK_EQ(rc, have == R2K_MAX_PAYLOAD ? 1 : 0);
	}
	CHECK_EQ(f.len, R2K_MAX_PAYLOAD);
	CHECK(memcmp(f.payload, chunk, sizeof(chunk)) == 0);
	CHECK_EQ(r.held, R2K_MAX_PAYLOAD);
	/* Removing the hook gives its charge back; the buffer stays for the next frame. */
	r2k_decoder_set_reserve(&d, NULL, NULL);
	CHECK_EQ(r.held, 0);
	CHECK_EQ(d.buf_cap, R2K_MAX_PAYLOAD);
	r2k_decoder_free(&d);

	/* Refused growth: a sticky EBUDGET, and the buffer is given back at once. */
	r = (struct reserve_log){.limit = 131072};
	r2k_decoder_init(&d, false, 0);
	r2k_decoder_set_reserve(&d, reserve_cb, &r);
	r2k_encode_header(h, R2K_FRAME_CONTEXT, 300000);
	CHECK_EQ(r2k_decoder_feed(&d, h, sizeof(h), &used, &f), 0);
	CHECK_EQ(r2k_decoder_feed(&d, chunk, 70000, &used, &f), 0);
	CHECK_EQ(r.held, 131072);
	CHECK_EQ(r2k_decoder_feed(&d, chunk, 70000, &used, &f), R2K_FRAME_EBUDGET);
	CHECK_EQ(used, 0);
	CHECK_EQ(r.held, 0);
	CHECK_EQ(r.last_new, 0);
	CHECK(d.buf == NULL);
	CHECK_EQ(r2k_decoder_feed(&d, chunk, 1, &used, &f), R2K_FRAME_EBUDGET);
	CHECK(strcmp(r2k_frame_strerror(R2K_FRAME_EBUDGET), "unknown decoder error") != 0);
	r2k_decoder_free(&d);
	CHECK_EQ(r.held, 0);

	/* A payload wholly in the input needs no buffer, so no charge. */
	r = (struct reserve_log){.limit = 0};
	r2k_decoder_init(&d, false, 0);
	r2k_decoder_set_reserve(&d, reserve_cb, &r);
	uint8_t b[R2K_HEADER_LEN + 4];
	r2k_encode_header(b, R2K_FRAME_STDOUT, 4);
	memcpy(b + R2K_HEADER_LEN, "abcd", 4);
	CHECK_EQ(r2k_decoder_feed(&d, b, sizeof(b), &used, &f), 1);
	CHECK_EQ(r.calls, 0);
	r2k_decoder_free(&d);
	CHECK_EQ(r.calls, 0);
}

static void test_encoders_truncate(void)
{
	uint8_t p[16];
	CHECK_EQ(r2k_error_encode(p, sizeof(p), 1, "a message longer than sixteen bytes"), 16);
	CHECK_EQ(r2k_log_encode(p, 4, 2, "long"), 4);
	struct r2k_exit e = {R2K_EXIT_SIGNAL, 9, ""};
	CHECK_EQ(r2k_exit_encode(p, sizeof(p), &e), R2K_EXIT_MIN_LEN);
	struct r2k_frame f = {R2K_FRAME_EXIT, 0, R2K_EXIT_MIN_LEN, p};
	struct r2k_exit back;
	CHECK_EQ(r2k_exit_decode(&f, &back), 0);
	CHECK_EQ(back.how, R2K_EXIT_SIGNAL);
	CHECK_EQ(back.value, 9);
	CHECK_STR(back.digest, "");
	uint8_t ce[R2K_CONTEXT_END_LEN], sha[32] = {1};
	r2k_context_end_encode(ce, 0x123456789abull, sha);
	struct r2k_frame g = {R2K_FRAME_CONTEXT_END, 0, R2K_CONTEXT_END_LEN, ce};
	uint64_t total;
	uint8_t sha2[32];
	CHECK_EQ(r2k_context_end_decode(&g, &total, sha2), 0);
	CHECK_EQ(total, 0x123456789abull);
	CHECK_EQ(sha2[0], 1);
	CHECK(ce[0] == 0 && ce[2] == 0x01 && ce[3] == 0x23);
}

/* Parse "89 52 ..." into out; returns the byte count. */
static size_t hex(const char *text, uint8_t *out)
{
	size_t n = 0;
	unsigned v;
	int used;
	while (sscanf(text, " %2x%n", &v, &used) == 1) {
		out[n++] = (uint8_t)v;
		text += used;
	}
	return n;
}

/*
 * docs/protocol.md, "Example exchange": the encoders produce the bytes the
 * page shows (test_docs.py checks the page's lines against the same
 * payloads), and the decoder reads both directions back, one byte at a time.
 */
static void test_protocol_example(void)
{
	static const char request[] =
	        "{\"destinations\":[\"localhost:5000/demo:1\"],\"push\":true}";
	static const char check[] =
	        "{\"target\":\"localhost:5000\",\"kind\":\"reachability\",\"status\":\"ok\","
	        "\"passed\":true,\"detail\":\"HTTP 200\",\"latency_ms\":1.2}";
	uint8_t want[256], got[256], sha[32];
	size_t n = 0;

	/* Client: preamble, REQUEST (54 bytes), CONTEXT "tar bytes", CONTEXT_END. */
	n += r2k_encode_preamble(got + n, R2K_PROTO_VERSION);
	n += r2k_encode_header(got + n, R2K_FRAME_REQUEST, sizeof(request) - 1);
	memcpy(got + n, request, sizeof(request) - 1);
	n += sizeof(request) - 1;
	n += r2k_encode_header(got + n, R2K_FRAME_CONTEXT, 9);
	memcpy(got + n, "tar bytes", 9);
	n += 9;
	n += r2k_encode_header(got + n, R2K_FRAME_CONTEXT_END, R2K_CONTEXT_END_LEN);
	hex("f2 66 df df 4b 47 f8 4f 15 24 66 f7 15 ac 37 31"
	    "31 49 f5 8f a3 73 79 11 b9 66 80 f1 b4 1d 8d f7",
	    sha);
	r2k_context_end_encode(got + n, 9, sha);
	n += R2K_CONTEXT_END_LEN;
	CHECK_EQ(n, 0x8b);
	CHECK_EQ(hex("89 52 32 4b 0d 0a 1a 0a 00 01 00 00 01 01 00 00 00 00 00 36", want), 20);
	CHECK(memcmp(got, want, 20) == 0);
	CHECK_EQ(hex("01 02 00 00 00 00 00 09 74 61 72 20 62 79 74 65 73"
	             "01 03 00 00 00 00 00 28 00 00 00 00 00 00 00 09",
	             want),
	         33);
	CHECK(memcmp(got + 0x4a, want, 33) == 0);
	CHECK(memcmp(got + 0x6b, sha, 32) == 0);
	const uint16_t client_types[] = {R2K_FRAME_REQUEST, R2K_FRAME_CONTEXT,
	                                 R2K_FRAME_CONTEXT_END};
	struct r2k_decoder d;
	struct r2k_frame f;
	size_t used, nf = 0;
	r2k_decoder_init(&d, true, 0);
	for (size_t i = 0; i < n; i++)
		if (r2k_decoder_feed(&d, got + i, 1, &used, &f) == 1)
			CHECK_EQ(f.type, client_types[nf++]);
	CHECK_EQ(nf, 3);
	CHECK_EQ(r2k_decoder_finish(&d), 0);
	r2k_decoder_free(&d);

	/* Runner: preamble, CHECK (114 bytes), STDOUT, STDERR, EXIT with a digest. */
	n = r2k_encode_preamble(got, R2K_PROTO_VERSION);
	n += r2k_encode_header(got + n, R2K_FRAME_CHECK, sizeof(check) - 1);
	memcpy(got + n, check, sizeof(check) - 1);
	n += sizeof(check) - 1;
	n += r2k_encode_header(got + n, R2K_FRAME_STDOUT, 9);
	memcpy(got + n, "STEP 1/2\n", 9);
	n += 9;
	n += r2k_encode_header(got + n, R2K_FRAME_STDERR, 5);
	memcpy(got + n, "warn\n", 5);
	n += 5;
	struct r2k_exit e = {R2K_EXIT_CODE, 0, "sha256:9f86"};
	uint8_t exitp[64];
	size_t el = r2k_exit_encode(exitp, sizeof(exitp), &e);
	n += r2k_encode_header(got + n, R2K_FRAME_EXIT, (uint32_t)el);
	memcpy(got + n, exitp, el);
	n += el;
	CHECK_EQ(n, 0xbf);
	CHECK_EQ(hex("02 01 00 00 00 00 00 72", want), 8);
	CHECK(memcmp(got + 0x0c, want, 8) == 0);
	CHECK_EQ(hex("02 02 00 00 00 00 00 09 53 54 45 50 20 31 2f 32 0a"
	             "02 03 00 00 00 00 00 05 77 61 72 6e 0a"
	             "02 05 00 00 00 00 00 13 00 00 00 00 00 00 00 00"
	             "73 68 61 32 35 36 3a 39 66 38 36",
	             want),
	         57);
	CHECK(memcmp(got + 0x86, want, 57) == 0);
	const uint16_t runner_types[] = {R2K_FRAME_CHECK, R2K_FRAME_STDOUT, R2K_FRAME_STDERR,
	                                 R2K_FRAME_EXIT};
	nf = 0;
	r2k_decoder_init(&d, true, 0);
	for (size_t i = 0; i < n; i++)
		if (r2k_decoder_feed(&d, got + i, 1, &used, &f) == 1)
			CHECK_EQ(f.type, runner_types[nf++]);
	CHECK_EQ(nf, 4);
	r2k_decoder_free(&d);

	/* The refusal: ERROR, 49 bytes, code 4. */
	static const char msg[] = "context entry '../x': name leaves the workspace";
	el = r2k_error_encode(exitp, sizeof(exitp), R2K_ERR_CONTEXT, msg);
	n = r2k_encode_header(got, R2K_FRAME_ERROR, (uint32_t)el);
	memcpy(got + n, exitp, el);
	CHECK_EQ(hex("00 01 00 00 00 00 00 31 00 04 63 6f 6e 74 65 78 74 20", want), 18);
	CHECK(memcmp(got, want, 18) == 0);
}

int main(void)
{
	RUN(test_byte_by_byte);
	RUN(test_whole_buffer);
	RUN(test_random_splits);
	RUN(test_errors);
	RUN(test_zero_copy);
	RUN(test_reserve_as_bytes_arrive);
	RUN(test_encoders_truncate);
	RUN(test_protocol_example);
	return T_DONE();
}
