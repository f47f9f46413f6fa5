/* options.c — the DYNALLOC_* environment variables, read once at start-up.
 *
 * One table names every option, its default and its meaning; the README's options
 * table mirrors it.  The environment is read straight from `environ`: getenv or
 * stdio could allocate.  Values are decimal integers, except where `words` lists
 * accepted words (the word's index is stored).
 */
#include "internal.h"

extern char **environ;

da_options_t da_options = {
  .stats = 0, .verbose = 0, .backend_sbrk = 0, .purge_delay_ms = 100,
  .segment_cache = 8, .fault_every = 0, .purge_thread = 1,
};

typedef struct option_s {
  const char *name;        /* after the DYNALLOC_ prefix */
  long       *value;
  const char *words[3];    /* accepted words, in value order, or none */
} option_t;

static const option_t option_table[] = {
  {"STATS",         &da_options.stats,          {0}},
  {"VERBOSE",       &da_options.verbose,        {0}},
  {"BACKEND",       &da_options.backend_sbrk,   {"mmap", "sbrk", 0}},
  {"PURGE_DELAY",   &da_options.purge_delay_ms, {0}},
  {"SEGMENT_CACHE", &da_options.segment_cache,  {0}},
  {"FAULT_EVERY",   &da_options.fault_every,    {0}},
  {"PURGE_THREAD",  &da_options.purge_thread,   {0}},
};

static bool str_eq(const char *a, const char *b) {
  while (*a && *a == *b) { a++; b++; }
  return *a == *b;
}

/* "NAME=value" matching option name: return value, else NULL. */
static const char *match(const char *entry, const char *name) {
  const char *prefix = "DYNALLOC_";
  while (*prefix) if (*entry++ != *prefix++) return NULL;
  while (*name) if (*entry++ != *name++) return NULL;
  return *entry == '=' ? entry + 1 : NULL;
}

static bool parse_long(const char *s, long *out) {
  long v = 0;
  bool neg = *s == '-';
  if (neg) s++;
  if (*s == 0) return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > 100000000000L) return false;
    v = v * 10 + (*s - '0');
  }
  *out = neg ? -v : v;
  return true;
}

static void set_option(const option_t *opt, const char *text) {
  if (opt->words[0] != NULL) {
    for (long i = 0; i < 3 && opt->words[i]; i++)
      if (str_eq(text, opt->words[i])) { *opt->value = i; return; }
  } else if (parse_long(text, opt->value)) {
    return;
  }
  da_message("dynalloc: ignoring DYNALLOC_%s=%s (bad value)\n", opt->name, text);
}

void da_options_init(void) {
  if (environ == NULL) return;
  for (char **e = environ; *e != NULL; e++) {
    if ((*e)[0] != 'D') continue;
    for (size_t i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
      const char *v = match(*e, option_table[i].name);
      if (v != NULL) set_option(&option_table[i], v);
    }
  }
  if (da_options.purge_delay_ms < 0) da_options.purge_delay_ms = 0;
  if (da_options.segment_cache < 0) da_options.segment_cache = 0;
}
