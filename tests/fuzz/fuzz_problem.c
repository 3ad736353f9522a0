/* fuzz_problem.c: fuzz driver for the irreps parser, the builders and
 * instruction sets (oeq issue 14, case 5).
 *
 * One input is bytes: the first picks a target, the rest are NUL-separated
 * irreps strings followed by raw instruction records. Every call must
 * return a status (with a message on failure) and never crash, leak or
 * read out of bounds; with a plan, a small batch is executed on the CPU.
 *
 * Built two ways: with -DOEQ_LIBFUZZER as a libFuzzer target (clang
 * -fsanitize=fuzzer), or (default) as a deterministic driver with its own
 * main: it runs the regression inputs built in code (the 20 KB / 1 MB
 * strings of the issue), the corpus files named on the command line, then
 * random grammar-aware inputs from a fixed seed until --seconds or
 * --iterations runs out. Under ASan a finding aborts with a report, which
 * is the failure .ci/test counts. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "irreps.h"
#include "oeq.h"

#define FUZZ_FAIL(...)                                                  \
  do {                                                                  \
    fprintf(stderr, "fuzz: finding: " __VA_ARGS__);                    \
    fprintf(stderr, "\n");                                              \
    abort();                                                            \
  } while (0)

/* How deep inputs got: problems made, plans made, plans run. */
static long made_problems, made_plans, ran_plans;

/* A failed call must leave a message. */
static void expect_message(oeq_status_t s, const char *what) {
  if (s != OEQ_SUCCESS && oeq_last_error()[0] == '\0') FUZZ_FAIL("%s failed without a message", what);
}

/* Parse, format, parse again: the round trip is stable; sort keeps the
 * multiset and is ordered. */
static void fuzz_irreps(const char *text) {
  oeq_irreps_t a, b, sorted;
  oeq_error_t err;
  err.message[0] = '\0';
  if (oeq_irreps_parse(text, &a, &err) != OEQ_SUCCESS) {
    if (!err.message[0]) FUZZ_FAIL("parse failed without a message");
    return;
  }
  int n = oeq_irreps_format(&a, NULL, 0);
  char *again = malloc((size_t)n + 1);
  if (!again) FUZZ_FAIL("out of memory");
  oeq_irreps_format(&a, again, (size_t)n + 1);
  if (oeq_irreps_parse(again, &b, &err) != OEQ_SUCCESS) FUZZ_FAIL("\"%s\" formats to unparsable \"%s\"", text, again);
  if (a.len != b.len || (a.len && memcmp(a.terms, b.terms, (size_t)a.len * sizeof *a.terms) != 0))
    FUZZ_FAIL("round trip of \"%s\" changed it", text);
  if (oeq_irreps_dim(&a) != oeq_irreps_dim(&b)) FUZZ_FAIL("dims differ");
  int *perm = malloc(sizeof *perm * (size_t)(a.len ? a.len : 1));
  if (!perm) FUZZ_FAIL("out of memory");
  if (oeq_irreps_sort(&a, &sorted, perm, &err) == OEQ_SUCCESS) {
    for (int i = 0; i < a.len; i++) {
      const oeq_irrep_term_t *t = &sorted.terms[perm[i]];
      if (t->l != a.terms[i].l || t->parity != a.terms[i].parity || t->mul != a.terms[i].mul)
        FUZZ_FAIL("sort permutation is wrong");
      if (i && oeq_irrep_compare(sorted.terms[i - 1].l, sorted.terms[i - 1].parity, sorted.terms[i].l,
                                 sorted.terms[i].parity) > 0)
        FUZZ_FAIL("sort is not ordered");
    }
    oeq_irreps_free(&sorted);
  }
  free(perm);
  free(again);
  oeq_irreps_free(&a);
  oeq_irreps_free(&b);
}

/* Describe (sized, then written) and, when the rows are small, a CPU plan
 * run on a batch of 2 (the tensor product) or 3 edges (the convolution). */
static void exercise(oeq_problem_t *p, int conv) {
  size_t need = 0;
  oeq_status_t s = oeq_problem_describe(p, NULL, 0, &need);
  expect_message(s, "describe");
  if (s == OEQ_SUCCESS) {
    char *json = malloc(need + 1);
    if (!json) FUZZ_FAIL("out of memory");
    size_t again = 0;
    if (oeq_problem_describe(p, json, need + 1, &again) != OEQ_SUCCESS || again != need)
      FUZZ_FAIL("describe is not repeatable");
    if (strlen(json) != need) FUZZ_FAIL("describe's length is wrong");
    if (strstr(json, "inf") || strstr(json, "nan")) FUZZ_FAIL("describe wrote a non-finite number");
    free(json);
  }
  int64_t d1, d2, d3, wn;
  if (oeq_problem_dims(p, &d1, &d2, &d3) != OEQ_SUCCESS || oeq_problem_weight_numel(p, &wn) != OEQ_SUCCESS)
    FUZZ_FAIL("dims / weight_numel failed");
  if (d1 < 0 || d2 < 0 || d3 < 0 || wn < 0) FUZZ_FAIL("negative size");
  oeq_plan_t *plan = NULL;
  s = conv ? oeq_plan_create_conv(p, OEQ_BACKEND_CPU, 0, 0, &plan) : oeq_plan_create_tp(p, OEQ_BACKEND_CPU, 0, &plan);
  expect_message(s, "plan creation");
  if (s != OEQ_SUCCESS) return;
  made_plans++;
  const int64_t rows = 3;
  if (d1 + d2 + d3 + wn <= 4096) {
    size_t n = (size_t)(rows * (d1 + d2 + d3 + wn) + 1);
    double *buf = calloc(3 * n, sizeof *buf); /* big enough for float64 inputs and outputs */
    if (!buf) FUZZ_FAIL("out of memory");
    for (size_t i = 0; i < n; i++) buf[i] = (double)(i % 7) * 0.25 - 0.5;
    double *x = buf, *y = x + rows * d1, *w = y + rows * d2, *z = buf + n, *g = z + n;
    if (!conv) {
      expect_message(oeq_tp_forward(plan, 2, x, y, w, z, NULL), "tp_forward");
      expect_message(oeq_tp_backward(plan, 2, x, y, w, x, g, g + rows * d1, g + rows * (d1 + d2), NULL),
                     "tp_backward");
    } else {
      int32_t r[3] = {0, 1, 1}, c[3] = {1, 0, 1};
      expect_message(oeq_conv_forward(plan, 2, 2, 3, x, y, w, r, c, NULL, z, NULL, 0, NULL), "conv_forward");
    }
    free(buf);
    ran_plans++;
  }
  oeq_plan_destroy(plan);
}

/* Raw instruction records: 8 bytes each. */
static void add_instructions(oeq_problem_t *p, const uint8_t *data, size_t size) {
  static const double weights[8] = {1.0, 0.0, 0.5, 2.0, 1e-300, 1e200, 1.7976931348623157e308, -1.0};
  for (size_t k = 0; k + 8 <= size && k < 8 * 64; k += 8) {
    const uint8_t *r = data + k;
    oeq_status_t s = oeq_problem_add_instruction(p, (int8_t)r[0] % 8, (int8_t)r[1] % 8, (int8_t)r[2] % 8,
                                                 (oeq_mode_t)(r[3] % 7), r[4] & 1, weights[r[5] % 8]);
    expect_message(s, "add_instruction");
  }
}

int oeq_fuzz_one(const uint8_t *data, size_t size) {
  if (size == 0) return 0;
  /* Split into up to three NUL-terminated strings, then the rest. */
  char *copy = malloc(size + 4);
  if (!copy) return 0;
  memcpy(copy, data + 1, size - 1);
  memset(copy + size - 1, 0, 5);
  const char *str[3];
  size_t pos = 0;
  for (int i = 0; i < 3; i++) {
    str[i] = copy + pos;
    pos += strlen(copy + pos) + 1;
    if (pos > size - 1) pos = size - 1;
  }
  const uint8_t *rest = (const uint8_t *)copy + pos;
  size_t rest_size = size - 1 - pos;
  oeq_problem_t *p = NULL;
  oeq_status_t s;
  switch (data[0] % 4) {
    case 0:
      for (int i = 0; i < 3; i++) fuzz_irreps(str[i]);
      break;
    case 1:
      s = oeq_problem_create_channelwise(str[0], str[1], str[2], &p);
      expect_message(s, "channelwise");
      break;
    case 2:
      s = oeq_problem_create_fully_connected(str[0], str[1], str[2], &p);
      expect_message(s, "fully connected");
      break;
    case 3:
      s = oeq_problem_create(str[0], str[1], str[2], &p);
      expect_message(s, "create");
      if (s == OEQ_SUCCESS) add_instructions(p, rest, rest_size);
      break;
  }
  if (p) {
    made_problems++;
    if (rest_size > 0 && (rest[0] & 1)) oeq_problem_set_dtypes(p, OEQ_FLOAT64, OEQ_FLOAT64);
    if (rest_size > 1) oeq_problem_set_normalization(p, (oeq_irrep_norm_t)(rest[1] % 3), (oeq_path_norm_t)(rest[1] / 3 % 3));
    if (rest_size > 2) oeq_problem_set_layout(p, (oeq_layout_t)(rest[2] & 1));
    if (rest_size > 3) oeq_problem_set_shared_weights(p, rest[3] & 1);
    exercise(p, rest_size > 4 && (rest[4] & 1));
    oeq_problem_destroy(p);
  }
  free(copy);
  return 0;
}

#ifdef OEQ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return oeq_fuzz_one(data, size); }
#else

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ULL;
}

typedef struct {
  uint8_t *data;
  size_t len, cap;
} bytes_t;

static void put(bytes_t *b, const void *src, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = 2 * (b->len + n) + 64;
    b->data = realloc(b->data, b->cap);
    if (!b->data) FUZZ_FAIL("out of memory");
  }
  memcpy(b->data + b->len, src, n);
  b->len += n;
}

static void puts_(bytes_t *b, const char *s) { put(b, s, strlen(s)); }

/* An irreps string that mostly follows the grammar: the interesting inputs
 * are near-valid ones (big numbers, odd whitespace, stray characters). */
static void random_irreps(bytes_t *b) {
  static const char *junk[] = {" ", "x", "+", "  ", "\t", "-", "e", "o", "y", "01", "99999999999", "", "1.5", "X"};
  int terms = (int)(rng() % 8);
  if (rng() % 64 == 0) terms = (int)(rng() % 3000);
  for (int t = 0; t < terms; t++) {
    char term[64];
    if (t) puts_(b, rng() % 50 ? "+" : junk[rng() % 14]);
    uint64_t shape = rng() % 16;
    uint64_t mul = rng() % 8 == 0 ? rng() % 2000000 : rng() % 5;
    int l = (int)(rng() % 8 == 0 ? rng() % 30 : rng() % 4);
    char par = "eoy?"[rng() % (shape == 0 ? 4 : 3)];
    if (shape < 10)
      snprintf(term, sizeof term, "%llux%d%c", (unsigned long long)mul, l, par);
    else if (shape < 13)
      snprintf(term, sizeof term, "%d%c", l, par);
    else
      snprintf(term, sizeof term, " %llu x %d%c ", (unsigned long long)mul, l, par);
    puts_(b, term);
    if (rng() % 40 == 0) puts_(b, junk[rng() % 14]);
  }
}

static void random_input(bytes_t *b) {
  b->len = 0;
  uint8_t target = (uint8_t)rng();
  put(b, &target, 1);
  for (int i = 0; i < 3; i++) {
    random_irreps(b);
    put(b, "", 1);
  }
  int records = (int)(rng() % 24);
  for (int i = 0; i < 8 * records + 5; i++) {
    uint8_t v = (uint8_t)(rng() % 4 == 0 ? rng() : rng() % 4);
    put(b, &v, 1);
  }
}

/* The inputs of oeq issue 14, made in code (they are MBs as text). */
static size_t regression_inputs(void) {
  bytes_t b = {0};
  size_t count = 0;
  for (int target = 1; target <= 3; target++) {
    int reps[2] = {6620, 350000};
    for (int r = 0; r < 2; r++) {
      b.len = 0;
      uint8_t t = (uint8_t)target;
      put(&b, &t, 1);
      for (int s = 0; s < 2; s++) {
        for (int i = 0; i < reps[r]; i++) puts_(&b, i ? "+0e" : "0e");
        put(&b, "", 1);
      }
      puts_(&b, "0e");
      put(&b, "\0\x00\x00\x00\x00\x01\x00\x00", 9);
      oeq_fuzz_one(b.data, b.len);
      count++;
    }
  }
  free(b.data);
  return count;
}

static size_t run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  bytes_t b = {0};
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, n);
  fclose(f);
  oeq_fuzz_one(b.data ? b.data : (const uint8_t *)"", b.len);
  free(b.data);
  return 1;
}

static size_t run_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "fuzz: no corpus at %s\n", path);
    exit(2);
  }
  if (!S_ISDIR(st.st_mode)) return run_file(path);
  DIR *d = opendir(path);
  size_t count = 0;
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
    count += run_file(sub);
  }
  if (d) closedir(d);
  return count;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
  double seconds = 10;
  long iterations = -1;
  size_t corpus = 0;
  double t0 = now();
  size_t regression = regression_inputs();
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
      seconds = atof(argv[++i]);
    else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc)
      iterations = atol(argv[++i]);
    else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
      rng_state = strtoull(argv[++i], NULL, 0) | 1;
    else
      corpus += run_path(argv[i]);
  }
  bytes_t b = {0};
  long done = 0;
  while (iterations < 0 ? now() - t0 < seconds : done < iterations) {
    random_input(&b);
    oeq_fuzz_one(b.data, b.len);
    done++;
  }
  free(b.data);
  printf("fuzz: %zu regression inputs, %zu corpus files, %ld random inputs in %.1f s (%ld problems, "
         "%ld plans, %ld run): no finding\n",
         regression, corpus, done, now() - t0, made_problems, made_plans, ran_plans);
  return 0;
}
#endif
