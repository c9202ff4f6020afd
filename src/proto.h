/* proto.h: the r2k wire protocol, version 1. docs/protocol.md is the spec; this is its contract in
 * C. */
#ifndef R2K_PROTO_H
#define R2K_PROTO_H

#include <stdint.h>

/*
 * A connection opens with a 12-byte preamble from each side:
 *   magic[8] = 89 'R' '2' 'K' 0D 0A 1A 0A
 *   u16 version (big-endian)
 *   u16 reserved (0)
 * The first byte 0x89 is neither '{' (the legacy JSON line) nor an ASCII
 * letter (an HTTP method), so a runner can tell the three apart by one byte.
 */
#define R2K_MAGIC         "\x89R2K\r\n\x1a\n"
#define R2K_MAGIC_LEN     8
#define R2K_PREAMBLE_LEN  12
#define R2K_PROTO_VERSION 1

/*
 * Every frame: an 8-byte big-endian header, then the payload.
 *   u16 type, u16 flags (reserved: sent as 0, ignored), u32 payload length
 * A length above R2K_MAX_PAYLOAD is a protocol error, detected before any
 * allocation.
 */
#define R2K_HEADER_LEN  8
#define R2K_MAX_PAYLOAD (1u << 20)

/* Frame types: 0x00xx either direction, 0x01xx client to runner, 0x02xx runner to client. */
enum r2k_frame_type {
	/* u16 code, then a UTF-8 message (may be empty). */
	R2K_FRAME_ERROR = 0x0001,
	/* Empty. Either side may send it at any time; the receiver ignores it. */
	R2K_FRAME_KEEPALIVE = 0x0002,

	/* JSON object: build flags and credentials (docs/protocol.md, "Build request"). */
	R2K_FRAME_REQUEST = 0x0101,
	/* Raw bytes of the context tar stream (optionally gzip-compressed). */
	R2K_FRAME_CONTEXT = 0x0102,
	/* u64 total context bytes, then 32 bytes SHA-256 of those bytes. */
	R2K_FRAME_CONTEXT_END = 0x0103,
	/* Empty. Stop the build; the runner answers with EXIT or ERROR. */
	R2K_FRAME_CANCEL = 0x0104,

	/* JSON object: one check result (target, kind, status, detail, latency_ms). */
	R2K_FRAME_CHECK = 0x0201,
	/* Raw bytes the builder wrote to its stdout. */
	R2K_FRAME_STDOUT = 0x0202,
	/* Raw bytes the builder wrote to its stderr. */
	R2K_FRAME_STDERR = 0x0203,
	/* u8 level (enum r2k_log_level), then a UTF-8 line without newline. */
	R2K_FRAME_LOG = 0x0204,
	/* u8 how (enum r2k_exit_how), u8[3] reserved, i32 code or signal,
	 * then the image digest as ASCII ("sha256:...", may be empty). Last frame of a build. */
	R2K_FRAME_EXIT = 0x0205,
};

/* Payload sizes of the fixed-layout frames (EXIT: minimum). */
#define R2K_CONTEXT_END_LEN 40
#define R2K_EXIT_MIN_LEN    8
#define R2K_ERROR_MIN_LEN   2
#define R2K_LOG_MIN_LEN     1

enum r2k_exit_how {
	R2K_EXIT_CODE = 0,   /* the builder exited; value is its exit code */
	R2K_EXIT_SIGNAL = 1, /* the builder was killed by a signal; value is the signal */
};

enum r2k_log_level {
	R2K_LOG_ERROR = 0,
	R2K_LOG_WARN = 1,
	R2K_LOG_INFO = 2,
	R2K_LOG_DEBUG = 3,
};

/* Codes carried by ERROR frames. Numbers are never reused. */
enum r2k_error_code {
	R2K_ERR_PROTOCOL = 1,  /* malformed or unexpected frame */
	R2K_ERR_VERSION = 2,   /* protocol version not spoken */
	R2K_ERR_REQUEST = 3,   /* build request invalid or refused */
	R2K_ERR_CONTEXT = 4,   /* context refused (unsafe entry, limits, checksum) */
	R2K_ERR_BUSY = 5,      /* runner cannot take another build now */
	R2K_ERR_PREFLIGHT = 6, /* a preflight check failed in enforce mode */
	R2K_ERR_BUILDER = 7,   /* the builder could not be started */
	R2K_ERR_CANCELLED = 8, /* the build was cancelled */
	R2K_ERR_INTERNAL = 9,  /* runner-side fault (disk full, out of memory) */
	R2K_ERR_SHUTDOWN = 10, /* runner is shutting down */
};

#endif
