/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error codes and the caller-owned error buffer shared by the host and
 * plugins. Every fallible SDK call returns 0 or a negative BM_E* code; the
 * detail travels in a struct bm_err that the caller owns (no allocation
 * crosses the plugin boundary).
 */
#ifndef BEARMON_BM_ERR_H
#define BEARMON_BM_ERR_H

#include <stdarg.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum bm_errcode {
	BM_OK = 0,
	BM_EINVAL = -1,    /* invalid argument or value */
	BM_ENOMEM = -2,    /* allocation failed */
	BM_EAGAIN = -3,    /* would block / bounded wait ran out, try again */
	BM_ENOENT = -4,    /* no such thing (file, series, route, topic) */
	BM_EEXIST = -5,    /* already exists (duplicate name, route) */
	BM_EIO = -6,       /* input/output or system call error */
	BM_ERANGE = -7,    /* value out of bounds */
	BM_EPROTO = -8,    /* malformed data (msgpack, frame, text format) */
	BM_ETIMEDOUT = -9, /* deadline passed */
	BM_ENOTSUP = -10,  /* not supported by this host or plugin */
	BM_EABI = -11,     /* ABI mismatch (magic, major, size, signature) */
	BM_ESTATE = -12,   /* call not allowed in the current lifecycle state */
	BM_EPERM = -13,    /* permission denied */
};

/* Detail for a failed call. Filled by the callee with bm_err_set(); owned
 * by the caller, usually on its stack. code mirrors the return value. */
struct bm_err {
	int code;
	char msg[256];
};

/* Short symbolic name of a code ("EINVAL"); static string, never NULL. */
static inline const char *bm_err_name(int code)
{
	switch (code) {
	case BM_OK: return "OK";
	case BM_EINVAL: return "EINVAL";
	case BM_ENOMEM: return "ENOMEM";
	case BM_EAGAIN: return "EAGAIN";
	case BM_ENOENT: return "ENOENT";
	case BM_EEXIST: return "EEXIST";
	case BM_EIO: return "EIO";
	case BM_ERANGE: return "ERANGE";
	case BM_EPROTO: return "EPROTO";
	case BM_ETIMEDOUT: return "ETIMEDOUT";
	case BM_ENOTSUP: return "ENOTSUP";
	case BM_EABI: return "EABI";
	case BM_ESTATE: return "ESTATE";
	case BM_EPERM: return "EPERM";
	default: return "EUNKNOWN";
	}
}

/* Human text for a code ("invalid argument"); static string, never NULL. */
static inline const char *bm_strerror(int code)
{
	switch (code) {
	case BM_OK: return "success";
	case BM_EINVAL: return "invalid argument";
	case BM_ENOMEM: return "out of memory";
	case BM_EAGAIN: return "resource temporarily unavailable";
	case BM_ENOENT: return "not found";
	case BM_EEXIST: return "already exists";
	case BM_EIO: return "input/output error";
	case BM_ERANGE: return "value out of range";
	case BM_EPROTO: return "malformed data";
	case BM_ETIMEDOUT: return "timed out";
	case BM_ENOTSUP: return "not supported";
	case BM_EABI: return "ABI mismatch";
	case BM_ESTATE: return "invalid state";
	case BM_EPERM: return "permission denied";
	default: return "unknown error";
	}
}

/* Fill err (when not NULL) and return code, so a callee can write
 * `return bm_err_set(err, BM_EINVAL, "bad %s", what);`. */
__attribute__((format(printf, 3, 4))) static inline int
bm_err_set(struct bm_err *err, int code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

/* Reset err to "no error". */
static inline void bm_err_clear(struct bm_err *err)
{
	if (err) {
		err->code = BM_OK;
		err->msg[0] = '\0';
	}
}

#ifdef __cplusplus
}
#endif
#endif /* BEARMON_BM_ERR_H */
