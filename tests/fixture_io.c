/* fixture_io.c: see fixture_io.h. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "fixture_io.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fx_fixture_dir(char *buf, size_t n) {
  const char *src = getenv("OEQ_SRCDIR");
  snprintf(buf, n, "%s/tests/fixtures", (src && *src) ? src : ".");
}

static int parse_mode(const char *s, oeq_mode_t *m) {
  static const char *names[] = {"uvw", "uvu", "uvv", "uuw", "uuu", "uvuv"};
  for (int i = 0; i < 6; i++)
    if (strcmp(s, names[i]) == 0) {
      *m = (oeq_mode_t)i;
      return 0;
    }
  return -1;
}

/* Copies the value of a "key value" line (without the newline). */
static void copy_value(char *dst, size_t n, const char *v) {
  size_t len = strcspn(v, "\r\n");
  if (len >= n) len = n - 1;
  memcpy(dst, v, len);
  dst[len] = '\0';
}

static int parse_vars(const char *v, int *nvar, double *var) {
  while (*v == ' ') v++;
  if (strncmp(v, "default", 7) == 0) {
    *nvar = -1;
    return 0;
  }
  int n = 0;
  char *end;
  for (;;) {
    double d = strtod(v, &end);
    if (end == v) break;
    if (n >= FX_MAX_VAR) return -1;
    var[n++] = d;
    v = end;
  }
  *nvar = n;
  return 0;
}

int fx_parse_ints(const char *v, int64_t *out, int *n, int max) {
  char *end;
  *n = 0;
  for (;;) {
    long long d = strtoll(v, &end, 10);
    if (end == v) break;
    if (*n >= max) return -1;
    out[(*n)++] = (int64_t)d;
    v = end;
  }
  return 0;
}

/* A shared key: 0 parsed, 1 bad value, -1 not a shared key. */
static int parse_tp_key(fx_tp_t *t, const char *key, const char *v) {
  int bad = 0;
  if (strcmp(key, "in1") == 0) {
    copy_value(t->in1, sizeof t->in1, v);
  } else if (strcmp(key, "in2") == 0) {
    copy_value(t->in2, sizeof t->in2, v);
  } else if (strcmp(key, "out") == 0) {
    copy_value(t->out, sizeof t->out, v);
  } else if (strcmp(key, "irrep_norm") == 0) {
    if (strncmp(v, "component", 9) == 0) t->irrep_norm = OEQ_IRREP_NORM_COMPONENT;
    else if (strncmp(v, "norm", 4) == 0) t->irrep_norm = OEQ_IRREP_NORM_NORM;
    else if (strncmp(v, "none", 4) == 0) t->irrep_norm = OEQ_IRREP_NORM_NONE;
    else bad = 1;
  } else if (strcmp(key, "path_norm") == 0) {
    if (strncmp(v, "element", 7) == 0) t->path_norm = OEQ_PATH_NORM_ELEMENT;
    else if (strncmp(v, "path", 4) == 0) t->path_norm = OEQ_PATH_NORM_PATH;
    else if (strncmp(v, "none", 4) == 0) t->path_norm = OEQ_PATH_NORM_NONE;
    else bad = 1;
  } else if (strcmp(key, "shared") == 0) {
    bad = sscanf(v, "%d", &t->shared) != 1;
  } else if (strcmp(key, "in1_var") == 0) {
    bad = parse_vars(v, &t->nvar[0], t->var[0]) != 0;
  } else if (strcmp(key, "in2_var") == 0) {
    bad = parse_vars(v, &t->nvar[1], t->var[1]) != 0;
  } else if (strcmp(key, "out_var") == 0) {
    bad = parse_vars(v, &t->nvar[2], t->var[2]) != 0;
  } else if (strcmp(key, "dims") == 0) {
    bad = sscanf(v, "%" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &t->d1, &t->d2, &t->dout,
                 &t->numel) != 4;
  } else if (strcmp(key, "builder") == 0) {
    char filt[FX_STR] = "";
    bad = sscanf(v, "%31s %511s", t->builder, filt) < 1;
    strcpy(t->builder_filter, filt);
  } else if (strcmp(key, "ins") == 0) {
    char mode[16];
    fx_ins_t *in = &t->ins[t->nins];
    bad = t->nins >= FX_MAX_INS ||
          sscanf(v, "%d %d %d %15s %d %lf", &in->i1, &in->i2, &in->io, mode, &in->has_weight,
                 &in->path_weight) != 6 ||
          parse_mode(mode, &in->mode) != 0;
    if (!bad) t->nins++;
  } else {
    return -1;
  }
  return bad;
}

int fx_read_manifest(const char *file, void *cur, size_t case_size, fx_tp_t *tp, void *cases,
                     int max, const fx_hooks_t *hooks, char *err, size_t errn) {
  char dir[1024], path[1100];
  fx_fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errn, "cannot open %s (set OEQ_SRCDIR to the source tree)", path);
    return -1;
  }
  int n = 0, in_case = 0, lineno = 0;
  static char line[65536];
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char key[32] = "";
    int off = 0;
    if (line[0] == '#' || sscanf(line, "%31s%n", key, &off) != 1) continue;
    const char *v = line + off;
    while (*v == ' ') v++;
    if (strcmp(key, "name") == 0) {
      memset(cur, 0, case_size);
      tp->nvar[0] = tp->nvar[1] = tp->nvar[2] = -1;
      strcpy(tp->builder, "none");
      copy_value(tp->name, sizeof tp->name, v);
      if (hooks->begin) hooks->begin(cur);
      in_case = 1;
      continue;
    }
    if (!in_case) {
      snprintf(err, errn, "%s:%d: '%s' outside a case", path, lineno, key);
      goto fail;
    }
    if (strcmp(key, "end") == 0) {
      if (hooks->end && hooks->end(cur, path, lineno, err, errn) != 0) goto fail;
      if (cases) {
        if (n >= max) {
          snprintf(err, errn, "%s: more than %d cases", path, max);
          goto fail;
        }
        memcpy((char *)cases + (size_t)n * case_size, cur, case_size);
      }
      n++;
      in_case = 0;
      continue;
    }
    int bad = parse_tp_key(tp, key, v);
    if (bad < 0) bad = hooks->key(cur, key, v) != 0;
    if (bad) {
      snprintf(err, errn, "%s:%d: cannot parse '%s' line", path, lineno, key);
      goto fail;
    }
  }
  fclose(f);
  if (in_case) {
    snprintf(err, errn, "%s: last case has no 'end'", path);
    return -1;
  }
  return n;
fail:
  fclose(f);
  return -1;
}

int fx_load_data(const char *name, int64_t nx, int64_t ny, int64_t nw, int64_t nz, fx_data_t *d,
                 char *err, size_t errn) {
  memset(d, 0, sizeof *d);
  d->nx = nx, d->ny = ny, d->nw = nw, d->nz = nz;
  int64_t total = 2 * (d->nx + d->ny + d->nw + d->nz);
  char dir[1024], path[1400];
  fx_fixture_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/%s.bin", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errn, "cannot open %s", path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (size != (long)(total * 8)) {
    snprintf(err, errn, "%s: %ld bytes, the manifest implies %lld", path, size,
             (long long)(total * 8));
    fclose(f);
    return -1;
  }
  d->buf = malloc((size_t)(total + 1) * sizeof(double));
  unsigned char *raw = malloc((size_t)size + 1);
  size_t got = raw ? fread(raw, 1, (size_t)size, f) : 0;
  fclose(f);
  if (got != (size_t)size || !d->buf) {
    snprintf(err, errn, "%s: short read", path);
    free(raw);
    free(d->buf);
    d->buf = NULL;
    return -1;
  }
  for (int64_t i = 0; i < total; i++) { /* little-endian float64, whatever the host */
    uint64_t u = 0;
    for (int b = 7; b >= 0; b--) u = (u << 8) | raw[8 * i + b];
    memcpy(&d->buf[i], &u, 8);
  }
  free(raw);
  double *p = d->buf;
  d->x = p, p += d->nx;
  d->y = p, p += d->ny;
  d->w = p, p += d->nw;
  d->dz = p, p += d->nz;
  d->z = p, p += d->nz;
  d->dx = p, p += d->nx;
  d->dy = p, p += d->ny;
  d->dw = p;
  return 0;
}

#define FX_TRY(call)                                                                           \
  do {                                                                                         \
    oeq_status_t st_ = (call);                                                                 \
    if (st_ != OEQ_SUCCESS) {                                                                  \
      snprintf(err, errn, "case %s: %s failed: %s (%s)", t->name, #call,                       \
               oeq_status_string(st_), oeq_last_error());                                      \
      goto fail;                                                                               \
    }                                                                                          \
  } while (0)

int fx_build_problem(const fx_tp_t *t, oeq_dtype_t dt, oeq_problem_t **out, char *err,
                     size_t errn) {
  oeq_problem_t *p = NULL;
  *out = NULL;
  FX_TRY(oeq_problem_create(t->in1, t->in2, t->out, &p));
  for (int k = 0; k < t->nins; k++) {
    const fx_ins_t *in = &t->ins[k];
    oeq_status_t st = oeq_problem_add_instruction(p, in->i1, in->i2, in->io, in->mode,
                                                  in->has_weight, in->path_weight);
    if (st != OEQ_SUCCESS) {
      snprintf(err, errn, "case %s: add_instruction #%d (%d,%d,%d,mode %d,%d,%.17g): %s (%s)",
               t->name, k, in->i1, in->i2, in->io, (int)in->mode, in->has_weight,
               in->path_weight, oeq_status_string(st), oeq_last_error());
      goto fail;
    }
  }
  FX_TRY(oeq_problem_set_normalization(p, t->irrep_norm, t->path_norm));
  if (t->nvar[0] >= 0 || t->nvar[1] >= 0 || t->nvar[2] >= 0)
    FX_TRY(oeq_problem_set_variances(p, t->nvar[0] >= 0 ? t->var[0] : NULL,
                                     t->nvar[1] >= 0 ? t->var[1] : NULL,
                                     t->nvar[2] >= 0 ? t->var[2] : NULL));
  FX_TRY(oeq_problem_set_shared_weights(p, t->shared));
  FX_TRY(oeq_problem_set_dtypes(p, dt, dt));
  *out = p;
  return 0;
fail:
  oeq_problem_destroy(p);
  return -1;
}

int fx_check_dims(const fx_tp_t *t, const oeq_problem_t *p, const char *how, char *err,
                  size_t errn) {
  int64_t d1 = -1, d2 = -1, dout = -1, numel = -1;
  FX_TRY(oeq_problem_dims(p, &d1, &d2, &dout));
  FX_TRY(oeq_problem_weight_numel(p, &numel));
  if (d1 == t->d1 && d2 == t->d2 && dout == t->dout && numel == t->numel) return 0;
  snprintf(err, errn, "case %s%s%s%s: oeq dims %lld %lld %lld numel %lld, e3nn %lld %lld %lld numel %lld",
           t->name, how ? " (" : "", how ? how : "", how ? ")" : "", (long long)d1, (long long)d2,
           (long long)dout, (long long)numel, (long long)t->d1, (long long)t->d2,
           (long long)t->dout, (long long)t->numel);
fail:
  return -1;
}
