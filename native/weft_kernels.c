// Native byte-plane kernels for src/store/byte-planes.ts (loaded by src/store/native-kernels.ts): interleave byte
// planes into elements of 1, 2, 4 or 8 bytes and back, SSE2 where the compiler targets it, plain loops elsewhere.
// Every argument is checked before any byte moves; bad ones throw a TypeError or RangeError, never crash.
// Also the one system call Node lacks that the filter wants: a pipe's buffer size (fcntl F_SETPIPE_SZ, Linux).

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE // F_SETPIPE_SZ / F_GETPIPE_SZ
#endif
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#endif

#define MAX_WIDTH 8

// ---------------------------------------------------------------------------------------------------------------
// Kernels. Pointers may have any alignment (unaligned loads and stores); outputs never overlap inputs (checked).

// Joins elements [from, from + count) of the planes into out (element `from` lands at out[from * width]).
static inline void join_scalar(const uint8_t *const *planes, size_t from, size_t count, uint8_t *out,
                               size_t width) {
  for (size_t i = from; i < from + count; i++) {
    for (size_t j = 0; j < width; j++) out[i * width + j] = planes[j][i];
  }
}

// Splits `count` elements at src into the planes at index `at`.
static inline void split_scalar(const uint8_t *src, size_t count, uint8_t *const *planes, size_t at,
                                size_t width) {
  for (size_t i = 0; i < count; i++) {
    for (size_t j = 0; j < width; j++) planes[j][at + i] = src[i * width + j];
  }
}

#if defined(__SSE2__)

#define LOAD(p) _mm_loadu_si128((const __m128i *)(p))
#define STORE(p, v) _mm_storeu_si128((__m128i *)(p), (v))

// Interleaving: unpacking bytes, then 16-bit and 32-bit units, of 16 elements at a time. Returns the elements done.
static size_t join_sse2(const uint8_t *const *p, size_t n, uint8_t *out, size_t width) {
  size_t i = 0;
  if (width == 2) {
    for (; i + 16 <= n; i += 16) {
      __m128i a = LOAD(p[0] + i), b = LOAD(p[1] + i);
      uint8_t *o = out + 2 * i;
      STORE(o, _mm_unpacklo_epi8(a, b));
      STORE(o + 16, _mm_unpackhi_epi8(a, b));
    }
  } else if (width == 4) {
    for (; i + 16 <= n; i += 16) {
      __m128i a = LOAD(p[0] + i), b = LOAD(p[1] + i), c = LOAD(p[2] + i), d = LOAD(p[3] + i);
      __m128i abl = _mm_unpacklo_epi8(a, b), abh = _mm_unpackhi_epi8(a, b);
      __m128i cdl = _mm_unpacklo_epi8(c, d), cdh = _mm_unpackhi_epi8(c, d);
      uint8_t *o = out + 4 * i;
      STORE(o, _mm_unpacklo_epi16(abl, cdl));
      STORE(o + 16, _mm_unpackhi_epi16(abl, cdl));
      STORE(o + 32, _mm_unpacklo_epi16(abh, cdh));
      STORE(o + 48, _mm_unpackhi_epi16(abh, cdh));
    }
  } else if (width == 8) {
    for (; i + 16 <= n; i += 16) {
      __m128i u[8], v[8];
      for (int k = 0; k < 4; k++) {
        __m128i a = LOAD(p[2 * k] + i), b = LOAD(p[2 * k + 1] + i);
        u[2 * k] = _mm_unpacklo_epi8(a, b);  // elements 0-7, bytes 2k and 2k+1
        u[2 * k + 1] = _mm_unpackhi_epi8(a, b);  // elements 8-15
      }
      for (int k = 0; k < 2; k++) {
        // v[4k + q]: bytes 4k..4k+3 of elements 4q..4q+3.
        v[4 * k] = _mm_unpacklo_epi16(u[4 * k], u[4 * k + 2]);
        v[4 * k + 1] = _mm_unpackhi_epi16(u[4 * k], u[4 * k + 2]);
        v[4 * k + 2] = _mm_unpacklo_epi16(u[4 * k + 1], u[4 * k + 3]);
        v[4 * k + 3] = _mm_unpackhi_epi16(u[4 * k + 1], u[4 * k + 3]);
      }
      uint8_t *o = out + 8 * i;
      for (int q = 0; q < 4; q++) {
        STORE(o + 32 * q, _mm_unpacklo_epi32(v[q], v[4 + q]));
        STORE(o + 32 * q + 16, _mm_unpackhi_epi32(v[q], v[4 + q]));
      }
    }
  }
  return i;
}

// De-interleaving: the even bytes of a and b (16-bit lanes masked, packed) and the odd ones (shifted, packed).
static inline void unzip(__m128i a, __m128i b, __m128i *even, __m128i *odd) {
  const __m128i low = _mm_set1_epi16(0x00ff);
  *even = _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low));
  *odd = _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8));
}

// Splits 16 elements at a time with log2(width) rounds of unzip. Returns the elements done.
static size_t split_sse2(const uint8_t *src, size_t count, uint8_t *const *p, size_t at, size_t width) {
  size_t i = 0;
  if (width == 2) {
    for (; i + 16 <= count; i += 16) {
      const uint8_t *s = src + 2 * i;
      __m128i e, o;
      unzip(LOAD(s), LOAD(s + 16), &e, &o);
      STORE(p[0] + at + i, e);
      STORE(p[1] + at + i, o);
    }
  } else if (width == 4) {
    for (; i + 16 <= count; i += 16) {
      const uint8_t *s = src + 4 * i;
      __m128i e0, o0, e1, o1, b0, b2, b1, b3;
      unzip(LOAD(s), LOAD(s + 16), &e0, &o0);  // bytes 0,2 / 1,3 of elements 0-7
      unzip(LOAD(s + 32), LOAD(s + 48), &e1, &o1);  // elements 8-15
      unzip(e0, e1, &b0, &b2);
      unzip(o0, o1, &b1, &b3);
      STORE(p[0] + at + i, b0);
      STORE(p[1] + at + i, b1);
      STORE(p[2] + at + i, b2);
      STORE(p[3] + at + i, b3);
    }
  } else if (width == 8) {
    for (; i + 16 <= count; i += 16) {
      const uint8_t *s = src + 8 * i;
      __m128i e[4], o[4], ee[2], eo[2], oe[2], oo[2], r[8];
      for (int k = 0; k < 4; k++) unzip(LOAD(s + 32 * k), LOAD(s + 32 * k + 16), &e[k], &o[k]);  // 0,2,4,6 / 1,3,5,7
      for (int k = 0; k < 2; k++) {
        unzip(e[2 * k], e[2 * k + 1], &ee[k], &eo[k]);  // bytes 0,4 / 2,6
        unzip(o[2 * k], o[2 * k + 1], &oe[k], &oo[k]);  // bytes 1,5 / 3,7
      }
      unzip(ee[0], ee[1], &r[0], &r[4]);
      unzip(eo[0], eo[1], &r[2], &r[6]);
      unzip(oe[0], oe[1], &r[1], &r[5]);
      unzip(oo[0], oo[1], &r[3], &r[7]);
      for (int j = 0; j < 8; j++) STORE(p[j] + at + i, r[j]);
    }
  }
  return i;
}

#endif

// The loops below call the scalar kernels with a constant width, so the compiler specialises (and, on arm64,
// vectorises) each of them.
static void join_run(const uint8_t *const *p, size_t n, uint8_t *out, size_t width) {
  if (width == 1) {
    if (n > 0) memcpy(out, p[0], n);
    return;
  }
  size_t i = 0;
#if defined(__SSE2__)
  i = join_sse2(p, n, out, width);
#endif
  switch (width) {
    case 2: join_scalar(p, i, n - i, out, 2); break;
    case 4: join_scalar(p, i, n - i, out, 4); break;
    default: join_scalar(p, i, n - i, out, 8); break;
  }
}

static void split_run(const uint8_t *src, size_t count, uint8_t *const *p, size_t at, size_t width) {
  if (width == 1) {
    if (count > 0) memcpy(p[0] + at, src, count);
    return;
  }
  size_t i = 0;
#if defined(__SSE2__)
  i = split_sse2(src, count, p, at, width);
#endif
  switch (width) {
    case 2: split_scalar(src + 2 * i, count - i, p, at + i, 2); break;
    case 4: split_scalar(src + 4 * i, count - i, p, at + i, 4); break;
    default: split_scalar(src + 8 * i, count - i, p, at + i, 8); break;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Argument checks. JavaScript can run only while array elements are read (getters), so every element is read
// first and the typed arrays' memory is looked up after that, with no JavaScript between it and the kernels.

typedef struct {
  uint8_t *data;
  size_t length;
} bytes_t;

// Throws unless a call failed with an exception already pending; returns NULL for the caller to return.
static napi_value fail(napi_env env, napi_status status, const char *what) {
  bool pending = false;
  if (status != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  napi_throw_error(env, NULL, what);
  return NULL;
}

#define CALL(env, call, what)                              \
  do {                                                     \
    napi_status status_ = (call);                          \
    if (status_ != napi_ok) return fail(env, status_, what); \
  } while (0)

// The width as a size_t, or 0 after throwing.
static size_t get_width(napi_env env, napi_value value) {
  napi_valuetype type;
  double width;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "weft_kernels: width must be a number");
    return 0;
  }
  if (napi_get_value_double(env, value, &width) != napi_ok ||
      !(width == 1 || width == 2 || width == 4 || width == 8)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: width must be 1, 2, 4 or 8");
    return 0;
  }
  return (size_t)width;
}

// The memory of a Uint8Array (true), or false after throwing a TypeError naming `what`.
static bool get_bytes(napi_env env, napi_value value, const char *what, bytes_t *out) {
  bool is_typed = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  char message[96];
  if (napi_is_typedarray(env, value, &is_typed) == napi_ok && is_typed &&
      napi_get_typedarray_info(env, value, &type, &length, &data, NULL, NULL) == napi_ok &&
      type == napi_uint8_array && (data != NULL || length == 0)) {
    out->data = (uint8_t *)data;
    out->length = length;
    return true;
  }
  snprintf(message, sizeof message, "weft_kernels: %s must be a Uint8Array", what);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return false;
}

// Whether two byte ranges share memory (empty ranges never do).
static bool overlap(const bytes_t *a, const bytes_t *b) {
  if (a->length == 0 || b->length == 0) return false;
  uintptr_t a0 = (uintptr_t)a->data, b0 = (uintptr_t)b->data;
  return a0 < b0 + b->length && b0 < a0 + a->length;
}

// The length of the array `value` (at most `max`) into *count; false after throwing.
static bool get_length(napi_env env, napi_value value, const char *what, uint32_t max, uint32_t *count) {
  bool is_array = false;
  char message[96];
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) {
    snprintf(message, sizeof message, "weft_kernels: %s must be an array", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  if (napi_get_array_length(env, value, count) != napi_ok) {
    fail(env, napi_generic_failure, "weft_kernels: cannot read an array's length");
    return false;
  }
  if (*count > max) {
    snprintf(message, sizeof message, "weft_kernels: %s has %u items, at most %u allowed", what, *count, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  return true;
}

// Reads elements [0, count) of the array `value` into `items`; false after throwing.
static bool get_elements(napi_env env, napi_value value, napi_value *items, uint32_t count) {
  for (uint32_t i = 0; i < count; i++) {
    napi_status status = napi_get_element(env, value, i, &items[i]);
    if (status != napi_ok) {
      fail(env, status, "weft_kernels: cannot read an array element");
      return false;
    }
  }
  return true;
}

// The planes array's memory into planes[0..width), all of one length n (returned in *n); false after throwing.
static bool get_planes(napi_env env, const napi_value *items, uint32_t count, size_t width, bytes_t *planes,
                       size_t *n) {
  char message[96];
  if (count != width) {
    snprintf(message, sizeof message, "weft_kernels: %u planes for width %zu", count, width);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return false;
  }
  for (size_t j = 0; j < width; j++) {
    if (!get_bytes(env, items[j], "every plane", &planes[j])) return false;
    if (planes[j].length != planes[0].length) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: planes differ in length");
      return false;
    }
  }
  if (planes[0].length > SIZE_MAX / width) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: planes too long");
    return false;
  }
  *n = planes[0].length;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// Exports.

// join(planes: Uint8Array[], width: number, out: Uint8Array): void
static napi_value join(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], items[MAX_WIDTH];
  uint32_t count = 0;
  bytes_t planes[MAX_WIDTH], out;
  size_t n = 0;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "weft_kernels: join(planes, width, out) takes 3 arguments");
    return NULL;
  }
  size_t width = get_width(env, argv[1]);
  if (width == 0) return NULL;
  if (!get_length(env, argv[0], "planes", MAX_WIDTH, &count) || !get_elements(env, argv[0], items, count)) {
    return NULL;
  }
  if (!get_planes(env, items, count, width, planes, &n)) return NULL;
  if (!get_bytes(env, argv[2], "out", &out)) return NULL;
  if (out.length != n * width) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: out must hold exactly width * plane bytes");
    return NULL;
  }
  for (size_t j = 0; j < width; j++) {
    if (overlap(&out, &planes[j])) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: out must not share memory with a plane");
      return NULL;
    }
  }
  const uint8_t *p[MAX_WIDTH];
  for (size_t j = 0; j < width; j++) p[j] = planes[j].data;
  join_run(p, n, out.data, width);
  return NULL;
}

// Checks split's arguments, then splits; false after throwing. `piece_items` and `pieces` hold `piece_count` items.
static bool split_checked(napi_env env, const napi_value *argv, size_t width, uint32_t piece_count,
                          napi_value *piece_items, bytes_t *pieces) {
  napi_value plane_items[MAX_WIDTH];
  uint32_t plane_count = 0;
  bytes_t planes[MAX_WIDTH];
  size_t n = 0, total = 0;
  if (!get_elements(env, argv[0], piece_items, piece_count)) return false;
  if (!get_length(env, argv[2], "planes", MAX_WIDTH, &plane_count) ||
      !get_elements(env, argv[2], plane_items, plane_count)) {
    return false;
  }
  if (!get_planes(env, plane_items, plane_count, width, planes, &n)) return false;
  for (uint32_t k = 0; k < piece_count; k++) {
    if (!get_bytes(env, piece_items[k], "every piece", &pieces[k])) return false;
    if (pieces[k].length > SIZE_MAX - total) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: pieces too long");
      return false;
    }
    total += pieces[k].length;
    for (size_t j = 0; j < width; j++) {
      if (overlap(&pieces[k], &planes[j])) {
        napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: a plane must not share memory with a piece");
        return false;
      }
    }
  }
  if (total != n * width) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: pieces must hold exactly width * plane bytes");
    return false;
  }
  uint8_t *p[MAX_WIDTH];
  for (size_t j = 0; j < width; j++) p[j] = planes[j].data;
  // An element whose bytes straddle two or more pieces is gathered in `carry`. The total was checked above, so
  // `at` never passes n.
  uint8_t carry[MAX_WIDTH];
  size_t carried = 0, at = 0;
  for (uint32_t k = 0; k < piece_count; k++) {
    const uint8_t *s = pieces[k].data;
    size_t length = pieces[k].length, from = 0;
    if (carried > 0) {
      from = width - carried < length ? width - carried : length;
      if (from > 0) memcpy(carry + carried, s, from);
      carried += from;
      if (carried < width) continue;
      split_run(carry, 1, p, at++, width);
      carried = 0;
    }
    size_t count = (length - from) / width;
    split_run(s + from, count, p, at, width);
    at += count;
    from += count * width;
    if (from < length) {
      carried = length - from;
      memcpy(carry, s + from, carried);
    }
  }
  return true;
}

// split(pieces: Uint8Array[], width: number, planes: Uint8Array[]): void — the pieces concatenated are the elements.
static napi_value split(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  uint32_t piece_count = 0;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  if (argc < 3) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "weft_kernels: split(pieces, width, planes) takes 3 arguments");
    return NULL;
  }
  size_t width = get_width(env, argv[1]);
  if (width == 0) return NULL;
  if (!get_length(env, argv[0], "pieces", UINT32_MAX, &piece_count)) return NULL;
  // One allocation for the pieces' handles and their memory (at least one item: never malloc(0)).
  const size_t slots = piece_count > 0 ? piece_count : 1, slot_bytes = sizeof(napi_value) + sizeof(bytes_t);
  napi_value *piece_items = slots <= SIZE_MAX / slot_bytes ? malloc(slots * slot_bytes) : NULL;
  if (piece_items == NULL) {
    napi_throw_error(env, "ERR_MEMORY_ALLOCATION_FAILED", "weft_kernels: out of memory");
    return NULL;
  }
  split_checked(env, argv, width, piece_count, piece_items, (bytes_t *)(piece_items + slots));
  free(piece_items);
  return NULL;
}

// A whole number from 0 to 2^31-1 (a descriptor, a size, a time), or 0 after throwing a TypeError (not a
// number, or missing: `value` NULL) or a RangeError.
static int get_int_arg(napi_env env, napi_value value, const char *what, int32_t *out) {
  napi_valuetype type = napi_undefined;
  double d = -1;
  char message[128];
  if (value == NULL || napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    snprintf(message, sizeof message, "weft_kernels: %s must be a number", what);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
    return 0;
  }
  if (napi_get_value_double(env, value, &d) != napi_ok || !(d >= 0 && d <= INT32_MAX && d == (double)(int32_t)d)) {
    snprintf(message, sizeof message, "weft_kernels: %s must be a whole number from 0 to 2^31-1", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
    return 0;
  }
  *out = (int32_t)d;
  return 1;
}

static napi_value int_result(napi_env env, int32_t value) {
  napi_value result;
  if (napi_create_int32(env, value, &result) != napi_ok) return NULL;
  return result;
}

// pipeSize(fd, bytes): asks for a buffer of `bytes` on the pipe `fd` (0: leaves it as it is) and returns the size
// it has afterwards, or -errno (not a pipe, over the unprivileged limit, …); -ENOSYS where there is no such call.
static napi_value pipe_size(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2] = {NULL, NULL};
  int32_t fd, bytes;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  if (!get_int_arg(env, argv[0], "pipeSize: fd", &fd) || !get_int_arg(env, argv[1], "pipeSize: bytes", &bytes)) {
    return NULL;
  }
#if defined(__linux__) && defined(F_SETPIPE_SZ)
  int r = bytes > 0 ? fcntl(fd, F_SETPIPE_SZ, (int)bytes) : fcntl(fd, F_GETPIPE_SZ);
  return int_result(env, r >= 0 ? r : -errno);
#else
  return int_result(env, -38); // ENOSYS on Linux; other systems have no pipe size to set
#endif
}

// blocking(fd): clears O_NONBLOCK on `fd` (a pipe git shares with this process: Node turns the descriptors it
// wraps in streams non-blocking, and the filter reads and writes them with blocking calls). 0, or -errno.
static napi_value blocking(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  int32_t fd;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  if (!get_int_arg(env, argv[0], "blocking: fd", &fd)) return NULL;
#if defined(__linux__)
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return int_result(env, -errno);
  if ((flags & O_NONBLOCK) != 0 && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return int_result(env, -errno);
  return int_result(env, 0);
#else
  return int_result(env, -38);
#endif
}

#if defined(__linux__)

// ---------------------------------------------------------------------------------------------------------------
// The warm filter process's side of the hand-over (native/weft_filter_client.c is the other; the protocol is
// described there). Linux only: elsewhere the addon has no such functions, and Weft starts its filter cold.

#define WARM_MAGIC "WEFTWARM1"
#define WARM_MAGIC_BYTES 9
#define WARM_MAX_ARGV_BYTES (64 * 1024)
#define WARM_MAX_ENV_BYTES (4 * 1024 * 1024)

// warmListen(path): a listening Unix socket at `path` (close-on-exec, mode 0600), or -errno.
static napi_value warm_listen(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  size_t length = 0;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) CALL(env, napi_typeof(env, argv[0], &type), "weft_kernels: cannot read an argument");
  if (type != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "weft_kernels: warmListen(path) takes a string");
    return NULL;
  }
  CALL(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &length), "weft_kernels: cannot read path");
  if (length == 0 || length >= sizeof path) return int_result(env, -ENAMETOOLONG);
  CALL(env, napi_get_value_string_utf8(env, argv[0], path, sizeof path, &length), "weft_kernels: cannot read path");
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return int_result(env, -errno);
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, length + 1);
  if (bind(s, (struct sockaddr *)&addr, sizeof addr) != 0 || chmod(path, 0600) != 0 || listen(s, 16) != 0) {
    int e = errno;
    close(s);
    return int_result(env, -e);
  }
  return int_result(env, s);
}

static int recv_all(int fd, char *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/** NUL-separated strings → a JS array (a last string without its NUL is kept). */
static napi_value string_list(napi_env env, const char *p, size_t n) {
  napi_value list, item;
  if (napi_create_array(env, &list) != napi_ok) return NULL;
  uint32_t index = 0;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n ? i > start : p[i] == 0) {
      if (napi_create_string_utf8(env, p + start, i - start, &item) != napi_ok ||
          napi_set_element(env, list, index++, item) != napi_ok) {
        return NULL;
      }
      start = i + 1;
    }
  }
  return list;
}

// warmAccept(listenFd, timeoutMs): the next client, as { conn, fds: [0's, 1's, 2's], argv, env }, or undefined when
// none came in time or a connection was not a client of this user sending a well-formed hello (it is closed, and
// so are any descriptors it sent). `conn` answers with 2 s timeouts both ways.
static napi_value warm_accept(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], undefined;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  CALL(env, napi_get_undefined(env, &undefined), "weft_kernels: cannot make undefined");
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "weft_kernels: warmAccept(listenFd, timeoutMs) takes 2 arguments");
    return NULL;
  }
  int32_t listen_fd, timeout_ms;
  if (!get_int_arg(env, argv[0], "warmAccept: listenFd", &listen_fd) ||
      !get_int_arg(env, argv[1], "warmAccept: timeoutMs", &timeout_ms)) {
    return NULL;
  }
  struct pollfd p = {.fd = listen_fd, .events = POLLIN};
  int ready = poll(&p, 1, timeout_ms);
  if (ready != 1) return undefined;
  int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (c < 0) return undefined;
  struct ucred peer;
  socklen_t peer_len = sizeof peer;
  struct timeval limit = {.tv_sec = 2, .tv_usec = 0};
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0 || peer.uid != geteuid() ||
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
    close(c);
    return undefined;
  }
  char header[WARM_MAGIC_BYTES + 8];
  union {
    char buf[CMSG_SPACE(8 * sizeof(int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = header, .iov_len = sizeof header};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t got;
  do got = recvmsg(c, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  while (got < 0 && errno == EINTR);
  int fds[8], fd_count = 0;
  for (struct cmsghdr *m = got > 0 ? CMSG_FIRSTHDR(&msg) : NULL; m != NULL; m = CMSG_NXTHDR(&msg, m)) {
    if (m->cmsg_level != SOL_SOCKET || m->cmsg_type != SCM_RIGHTS) continue;
    int n = (int)((m->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n && fd_count < 8; i++) memcpy(&fds[fd_count++], CMSG_DATA(m) + i * sizeof(int), sizeof(int));
  }
  uint32_t lengths[2] = {0, 0};
  char *payload = NULL;
  int ok = got == (ssize_t)sizeof header && (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) == 0 && fd_count == 3 &&
           memcmp(header, WARM_MAGIC, WARM_MAGIC_BYTES) == 0;
  if (ok) {
    memcpy(lengths, header + WARM_MAGIC_BYTES, sizeof lengths);
    ok = lengths[0] <= WARM_MAX_ARGV_BYTES && lengths[1] <= WARM_MAX_ENV_BYTES;
  }
  if (ok) {
    payload = malloc((size_t)lengths[0] + lengths[1] + 1);
    ok = payload != NULL && recv_all(c, payload, (size_t)lengths[0] + lengths[1]) == 0;
  }
  napi_value result = undefined, value, list;
  if (ok) {
    ok = napi_create_object(env, &result) == napi_ok && napi_create_int32(env, c, &value) == napi_ok &&
         napi_set_named_property(env, result, "conn", value) == napi_ok && napi_create_array(env, &list) == napi_ok;
    for (int i = 0; ok && i < 3; i++) {
      ok = napi_create_int32(env, fds[i], &value) == napi_ok &&
           napi_set_element(env, list, (uint32_t)i, value) == napi_ok;
    }
    ok = ok && napi_set_named_property(env, result, "fds", list) == napi_ok;
    napi_value strings = ok ? string_list(env, payload, lengths[0]) : NULL;
    ok = strings != NULL && napi_set_named_property(env, result, "argv", strings) == napi_ok;
    strings = ok ? string_list(env, payload + lengths[0], lengths[1]) : NULL;
    ok = strings != NULL && napi_set_named_property(env, result, "env", strings) == napi_ok;
  }
  free(payload);
  if (!ok) {
    for (int i = 0; i < fd_count; i++) close(fds[i]);
    close(c);
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
    return undefined;
  }
  return result;
}

// adoptStdio(fds): makes fds[0..2] this process's descriptors 0, 1 and 2 (blocking) and closes the originals.
// 0, or -errno (the descriptors are then as they were, or partly adopted: the caller exits).
static napi_value adopt_stdio(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], item;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "weft_kernels: cannot read the arguments");
  bool is_array = false;
  uint32_t length = 0;
  if (argc >= 1) CALL(env, napi_is_array(env, argv[0], &is_array), "weft_kernels: cannot read an argument");
  if (is_array) CALL(env, napi_get_array_length(env, argv[0], &length), "weft_kernels: cannot read fds");
  if (!is_array || length != 3) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "weft_kernels: adoptStdio(fds) takes an array of 3 numbers");
    return NULL;
  }
  int32_t fds[3];
  for (uint32_t i = 0; i < 3; i++) {
    CALL(env, napi_get_element(env, argv[0], i, &item), "weft_kernels: cannot read fds");
    if (!get_int_arg(env, item, "adoptStdio: fds[i]", &fds[i])) return NULL;
    if (fds[i] <= 2) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "weft_kernels: adoptStdio: the descriptors must be above 2");
      return NULL;
    }
  }
  for (int i = 0; i < 3; i++) {
    if (dup2(fds[i], i) < 0) return int_result(env, -errno);
    int flags = fcntl(i, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) fcntl(i, F_SETFL, flags & ~O_NONBLOCK);
  }
  for (int i = 0; i < 3; i++) close(fds[i]);
  return int_result(env, 0);
}
#endif

NAPI_MODULE_INIT() {
  napi_property_descriptor properties[] = {
      {"join", NULL, join, NULL, NULL, NULL, napi_enumerable, NULL},
      {"split", NULL, split, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipeSize", NULL, pipe_size, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blocking", NULL, blocking, NULL, NULL, NULL, napi_enumerable, NULL},
#if defined(__linux__)
      {"warmListen", NULL, warm_listen, NULL, NULL, NULL, napi_enumerable, NULL},
      {"warmAccept", NULL, warm_accept, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adoptStdio", NULL, adopt_stdio, NULL, NULL, NULL, napi_enumerable, NULL},
#endif
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) {
    return NULL;
  }
  return exports;
}
