/* message.c — diagnostics without allocation: a small printf-like formatter that
 * writes into a stack buffer and one write(2) per message; and da_sink_t, the
 * buffered writer of the statistics report and the heap profile (a buffer the
 * caller keeps on its stack, flushed whole, a failed write remembered).
 *
 * Supported conversions: %s %c %d %ld %lld %u %lu %llu %zu %x %lx %p %%.
 * Invariant: never calls malloc, stdio or anything that may; errno is preserved.
 */
#include "internal.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct out_s { char *buf; size_t cap, len; } out_t;

static void put_char(out_t *o, char c) {
  if (o->len + 1 < o->cap) o->buf[o->len] = c;
  o->len++;
}

static void put_str(out_t *o, const char *s) {
  if (s == NULL) s = "(null)";
  while (*s) put_char(o, *s++);
}

static void put_unsigned(out_t *o, unsigned long long v, unsigned base) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  while (n > 0) put_char(o, digits[--n]);
}

static void put_signed(out_t *o, long long v) {
  if (v < 0) {
    put_char(o, '-');
    put_unsigned(o, 0ULL - (unsigned long long)v, 10);
  } else {
    put_unsigned(o, (unsigned long long)v, 10);
  }
}

size_t da_format(char *buf, size_t cap, const char *fmt, va_list ap) {
  out_t o = {buf, cap, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') { put_char(&o, *fmt); continue; }
    int longs = 0, size_t_arg = 0;
    fmt++;
    while (*fmt == 'l') { longs++; fmt++; }
    if (*fmt == 'z') { size_t_arg = 1; fmt++; }
    switch (*fmt) {
      case 's': put_str(&o, va_arg(ap, const char *)); break;
      case 'c': put_char(&o, (char)va_arg(ap, int)); break;
      case 'd':
        put_signed(&o, longs >= 2 ? va_arg(ap, long long) : longs == 1 ? va_arg(ap, long) : va_arg(ap, int));
        break;
      case 'u': case 'x': {
        unsigned long long v = size_t_arg  ? va_arg(ap, size_t)
                             : longs >= 2  ? va_arg(ap, unsigned long long)
                             : longs == 1  ? va_arg(ap, unsigned long)
                                           : va_arg(ap, unsigned);
        put_unsigned(&o, v, *fmt == 'x' ? 16 : 10);
        break;
      }
      case 'p':
        put_str(&o, "0x");
        put_unsigned(&o, (uintptr_t)va_arg(ap, void *), 16);
        break;
      case '%': put_char(&o, '%'); break;
      default: put_char(&o, '?'); break;
    }
  }
  if (cap > 0) buf[o.len < cap ? o.len : cap - 1] = 0;
  return o.len < cap ? o.len : cap - 1;
}

bool da_write_fd(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    buf += n;
    len -= (size_t)n;
  }
  return true;
}

void da_sink_init(da_sink_t *s, int fd) {
  s->fd = fd;
  s->failed = false;
  s->len = 0;
}

bool da_sink_flush(da_sink_t *s) {
  if (s->len > 0 && !da_write_fd(s->fd, s->buf, s->len)) s->failed = true;
  s->len = 0;
  return !s->failed;
}

void da_sink_write(da_sink_t *s, const char *text, size_t n) {
  while (n > 0) {
    if (s->len == sizeof s->buf) da_sink_flush(s);
    size_t k = sizeof s->buf - s->len < n ? sizeof s->buf - s->len : n;
    for (size_t i = 0; i < k; i++) s->buf[s->len + i] = text[i];
    s->len += k;
    text += k;
    n -= k;
  }
}

void da_sink_printf(da_sink_t *s, const char *fmt, ...) {
  char line[320];
  va_list ap;
  va_start(ap, fmt);
  size_t n = da_format(line, sizeof line, fmt, ap);
  va_end(ap);
  da_sink_write(s, line, n);
}

static void vmessage(const char *fmt, va_list ap) {
  char buf[512];
  int saved = errno;
  size_t len = da_format(buf, sizeof buf - 1, fmt, ap);
  da_write_fd(STDERR_FILENO, buf, len);
  errno = saved;
}

size_t da_snprintf(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = da_format(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

void da_message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmessage(fmt, ap);
  va_end(ap);
}

void da_fatal(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  size_t len = da_format(buf, sizeof buf - 2, fmt, ap);
  va_end(ap);
  buf[len++] = '\n';
  da_write_fd(STDERR_FILENO, "dynalloc: ", 10);
  da_write_fd(STDERR_FILENO, buf, len);
  abort();
}

/* The one-line report for misuse: "dynalloc: free(): invalid pointer 0x…". */
void da_invalid(const char *func, const char *what, const void *p) {
  da_fatal("%s(): %s %p", func, what, p);
}
