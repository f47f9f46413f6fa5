/* options.c — the DYNALLOC_* environment variables, read once at start-up.
 *
 * One table names every option, its default and its meaning; the README's options
 * table mirrors it.  The environment is read straight from `environ`: getenv or
 * stdio could allocate.  Values are decimal integers, except where `words` lists
 * accepted words (the word's index is stored) and for the path options
 * (the pointer into the environment is kept).  A DYNALLOC_ variable that names
 * no option gets a one-line warning listing the known names.
 */
#include "internal.h"

extern char **environ;

da_options_t da_options = {
  .stats = 0, .verbose = 0, .backend_sbrk = 0, .purge_delay_ms = 100,
  .segment_cache = 8, .fault_every = 0, .purge_thread = 1, .harden = 0,
  .guard_sample = DA_GUARD_SAMPLE_DEFAULT, .prof = -1, .prof_rate = DA_PROF_RATE_DEFAULT, .valgrind = 1,
};

typedef struct option_s {
  const char *name;        /* after the DYNALLOC_ prefix */
  long       *value;       /* or NULL: a path, kept in *text */
  const char *words[3];    /* accepted words, in value order, or none */
  const char **text;
} option_t;

static const option_t option_table[] = {
  {"STATS", &da_options.stats, {"0", "1", "json"}, NULL},
  {"STATS_FILE", NULL, {0}, &da_options.stats_file},
  {"VERBOSE", &da_options.verbose, {0}, NULL},
  {"BACKEND", &da_options.backend_sbrk, {"mmap", "sbrk", 0}, NULL},
  {"PURGE_DELAY", &da_options.purge_delay_ms, {0}, NULL},
  {"SEGMENT_CACHE", &da_options.segment_cache, {0}, NULL},
  {"FAULT_EVERY", &da_options.fault_every, {0}, NULL},
  {"PURGE_THREAD", &da_options.purge_thread, {0}, NULL},
  {"HARDEN", &da_options.harden, {"0", "1", 0}, NULL},
  {"GUARD_SAMPLE", &da_options.guard_sample, {0}, NULL},
  {"PROF", &da_options.prof, {"0", "1", 0}, NULL},
  {"PROF_RATE", &da_options.prof_rate, {0}, NULL},
  {"PROF_FILE", NULL, {0}, &da_options.prof_file},
  {"VALGRIND", &da_options.valgrind, {"0", "1", 0}, NULL},
  {"THP", &da_options.thp, {"0", "1", 0}, NULL},
  {"PAGE_SIZE", &da_options.page_size, {0}, NULL},
  {"PERCPU", &da_options.percpu, {"0", "1", 0}, NULL},
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

static bool match_prefix(const char *entry) {
  for (const char *prefix = "DYNALLOC_"; *prefix; prefix++)
    if (*entry++ != *prefix) return false;
  return true;
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
  if (opt->value == NULL) {
    if (*text != 0) { *opt->text = text; return; }
  } else if (opt->words[0] != NULL) {
    for (long i = 0; i < 3 && opt->words[i]; i++)
      if (str_eq(text, opt->words[i])) { *opt->value = i; return; }
  } else if (parse_long(text, opt->value)) {
    return;
  }
  da_message("dynalloc: ignoring DYNALLOC_%s=%s (bad value)\n", opt->name, text);
}

#define OPTION_COUNT (sizeof option_table / sizeof option_table[0])

/* "DYNALLOC_XYZ=…" that names no option: one line, the name and the known ones. */
static void warn_unknown(const char *entry) {
  char name[64], known[256];
  size_t n = 0, k = 0;
  while (entry[n] && entry[n] != '=' && n + 1 < sizeof name) { name[n] = entry[n]; n++; }
  name[n] = 0;
  for (size_t i = 0; i < OPTION_COUNT; i++) {
    const char *parts[2] = {i ? ", " : "", option_table[i].name};
    for (size_t j = 0; j < 2; j++)
      for (const char *c = parts[j]; *c && k + 1 < sizeof known; c++) known[k++] = *c;
  }
  known[k] = 0;
  da_message("dynalloc: ignoring unknown variable %s (known: %s)\n", name, known);
}

void da_options_init(void) {
  if (environ == NULL) return;
  for (char **e = environ; *e != NULL; e++) {
    if ((*e)[0] != 'D') continue;
    bool known = false;
    for (size_t i = 0; i < OPTION_COUNT; i++) {
      const char *v = match(*e, option_table[i].name);
      if (v != NULL) { set_option(&option_table[i], v); known = true; }
    }
    if (!known && match_prefix(*e)) warn_unknown(*e);
  }
  if (da_options.purge_delay_ms < 0) da_options.purge_delay_ms = 0;
  if (da_options.segment_cache < 0) da_options.segment_cache = 0;
  if (da_options.prof_rate < 1) da_options.prof_rate = 1;   /* 1: every allocation */
  if (da_options.prof < 0) da_options.prof = da_options.prof_file != NULL;   /* a file implies it, unless set */
}
