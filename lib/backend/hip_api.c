/* hip_api.c: dlopen libamdhip64, hiprtc and comgr once per process and
 * resolve the entry points by name; compile with hiprtc behind a check of
 * the target; read kernel resource usage out of a code object. Nothing is
 * printed; failures become messages. */
#include "backend/hip_api.h"

#include <dlfcn.h>
#include <elf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlopen the first of `names` (NULL-terminated) that loads, after an
 * environment override; `why` gets the last loader error. */
static void *open_first(const char *env_var, const char *const *names, int flags, char *why,
                        size_t why_len) {
  const char *env = env_var ? getenv(env_var) : NULL;
  void *lib = NULL;
  if (env && *env) lib = dlopen(env, RTLD_NOW | RTLD_LOCAL | flags);
  for (int i = 0; !lib && names[i]; i++) lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL | flags);
  if (!lib && why) {
    const char *e = dlerror();
    snprintf(why, why_len, "%s", e ? e : "dlopen failed");
  }
  return lib;
}

/* Newest ROCm first; then the usual install prefix, for machines where it
 * is not on the loader path. */
static const char *const hip_names[] = {
    "libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5", "libamdhip64.so",
    "/opt/rocm/lib/libamdhip64.so", NULL,
};

/* ----------------------------------------------------------------- runtime */

static pthread_once_t hip_once = PTHREAD_ONCE_INIT;
static oeq_hip_api_t hip;
static const oeq_hip_api_t *hip_table;
static char hip_reason[768];

#define HIP_SYM(field, optional)                                                             \
  do {                                                                                       \
    *(void **)&hip.field = dlsym(lib, #field);                                               \
    if (!hip.field && !(optional)) {                                                         \
      snprintf(hip_reason, sizeof hip_reason, "libamdhip64 lacks %s (ROCm too old?)", #field); \
      return;                                                                                \
    }                                                                                        \
  } while (0)

static void load_hip(void) {
  char why[512];
  void *lib = open_first("OEQ_HIP_LIBRARY", hip_names, 0, why, sizeof why);
  if (!lib) {
    snprintf(hip_reason, sizeof hip_reason,
             "libamdhip64 not found (tried libamdhip64.so.7, .so.6, .so.5, .so): %s", why);
    return;
  }
  HIP_SYM(hipInit, 0);
  HIP_SYM(hipRuntimeGetVersion, 0);
  HIP_SYM(hipGetDeviceCount, 0);
  HIP_SYM(hipGetDevice, 0);
  HIP_SYM(hipSetDevice, 0);
  HIP_SYM(hipDeviceGetAttribute, 0);
  HIP_SYM(hipGetDeviceProperties, 1);
  HIP_SYM(hipGetDevicePropertiesR0600, 1);
  HIP_SYM(hipModuleLoadData, 0);
  HIP_SYM(hipModuleUnload, 0);
  HIP_SYM(hipModuleGetFunction, 0);
  HIP_SYM(hipModuleLaunchKernel, 0);
  HIP_SYM(hipModuleOccupancyMaxActiveBlocksPerMultiprocessor, 0);
  HIP_SYM(hipPointerGetAttributes, 0);
  HIP_SYM(hipMemsetAsync, 0);
  HIP_SYM(hipGetErrorString, 0);
  HIP_SYM(hipGetErrorName, 1);
  HIP_SYM(hipGetLastError, 1);
  HIP_SYM(hipMemcpy, 0);            /* the conv index check reads its word back */
  HIP_SYM(hipStreamSynchronize, 0);
  HIP_SYM(hipMallocAsync, 1);       /* conv calls without a workspace */
  HIP_SYM(hipFreeAsync, 1);
  /* tests and benchmarks only: a runtime without them still runs plans */
  HIP_SYM(hipMalloc, 1);
  HIP_SYM(hipFree, 1);
  HIP_SYM(hipStreamCreateWithFlags, 1);
  HIP_SYM(hipStreamDestroy, 1);
  if (!hip.hipGetDeviceProperties && !hip.hipGetDevicePropertiesR0600) {
    snprintf(hip_reason, sizeof hip_reason, "libamdhip64 lacks hipGetDeviceProperties");
    return;
  }
  hip.hipRuntimeGetVersion(&hip.runtime_version);
  hipError_t r = hip.hipInit(0);
  int count = 0;
  if (r == OEQ_HIP_SUCCESS) r = hip.hipGetDeviceCount(&count);
  if (hip.hipGetLastError) hip.hipGetLastError(); /* leave no error behind for the caller */
  if (r != OEQ_HIP_SUCCESS || count <= 0) {
    snprintf(hip_reason, sizeof hip_reason, "no AMD GPU (HIP runtime %d: %s)", hip.runtime_version,
             oeq_hip_error_string(r));
    return;
  }
  hip_table = &hip; /* the library stays open for the process */
}
#undef HIP_SYM

const oeq_hip_api_t *oeq_hip_api(oeq_error_t *err) {
  pthread_once(&hip_once, load_hip);
  if (!hip_table) oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "%s", hip_reason);
  return hip_table;
}

const char *oeq_hip_error_string(hipError_t r) {
  static _Thread_local char text[192];
  const char *name = hip.hipGetErrorName ? hip.hipGetErrorName(r) : NULL;
  const char *desc = hip.hipGetErrorString ? hip.hipGetErrorString(r) : NULL;
  if (name && desc && strcmp(name, desc) != 0)
    snprintf(text, sizeof text, "HIP error %d %s (%s)", r, name, desc);
  else if (name || desc)
    snprintf(text, sizeof text, "HIP error %d %s", r, name ? name : desc);
  else
    snprintf(text, sizeof text, "HIP error %d", r);
  return text;
}

oeq_status_t oeq_hip_fail(oeq_error_t *err, hipError_t r, const char *what) {
  oeq_status_t s = r == OEQ_HIP_ERROR_OUT_OF_MEMORY ? OEQ_ERROR_OUT_OF_MEMORY : OEQ_ERROR_DEVICE;
  return oeq_fail(err, s, "%s failed: %s", what, oeq_hip_error_string(r));
}

/* ------------------------------------------------------------------ hiprtc */

static pthread_once_t rtc_once = PTHREAD_ONCE_INIT;
static oeq_hiprtc_api_t rtc;
static const oeq_hiprtc_api_t *rtc_table;
static char rtc_reason[768];

/* comgr, for its list of targets and its version (NULL if not found). */
static void *comgr_lib;

static void *open_comgr(void) {
  static const char *const names[] = {
      "libamd_comgr.so.3", "libamd_comgr.so.2", "libamd_comgr.so", "/opt/rocm/lib/libamd_comgr.so",
      NULL,
  };
  /* The copy hiprtc already pulled in (the one it compiles with), if any. */
  void *lib = open_first(NULL, names, RTLD_NOLOAD, NULL, 0);
  return lib ? lib : open_first(NULL, names, 0, NULL, 0);
}

static void load_hiprtc(void) {
  /* ROCm 6 and later ship hiprtc on its own; ROCm 5.x keeps it in
   * libamdhip64. The first library that has hiprtcCreateProgram wins. */
  static const char *const rtc_names[] = {
      "libhiprtc.so.7", "libhiprtc.so.6", "libhiprtc.so", "/opt/rocm/lib/libhiprtc.so", NULL,
  };
  char why[512] = "";
  void *lib = open_first("OEQ_HIPRTC_LIBRARY", rtc_names, 0, why, sizeof why);
  if (!lib || !dlsym(lib, "hiprtcCreateProgram"))
    lib = open_first(NULL, hip_names, 0, why, sizeof why);
  if (!lib || !dlsym(lib, "hiprtcCreateProgram")) {
    snprintf(rtc_reason, sizeof rtc_reason,
             "hiprtc not found (tried libhiprtc.so.7, .so.6, .so and libamdhip64.so.5): %s",
             why[0] ? why : "no library has hiprtcCreateProgram");
    return;
  }
#define RTC(field)                                                                           \
  do {                                                                                       \
    *(void **)&rtc.field = dlsym(lib, #field);                                               \
    if (!rtc.field) {                                                                        \
      snprintf(rtc_reason, sizeof rtc_reason, "hiprtc lacks %s", #field);                    \
      return;                                                                                \
    }                                                                                        \
  } while (0)
  RTC(hiprtcVersion);
  RTC(hiprtcCreateProgram);
  RTC(hiprtcDestroyProgram);
  RTC(hiprtcCompileProgram);
  RTC(hiprtcGetProgramLogSize);
  RTC(hiprtcGetProgramLog);
  RTC(hiprtcGetCodeSize);
  RTC(hiprtcGetCode);
  RTC(hiprtcGetErrorString);
#undef RTC
  /* hiprtcVersion alone is not enough for a cache key (ROCm 5.2 reports a
   * fixed 9.0): add the HIP version and comgr's, which does the compiling. */
  int major = 0, minor = 0, hip_version = 0;
  rtc.hiprtcVersion(&major, &minor);
  /* On ROCm 6+ the runtime is a separate library (already loaded, or not
   * installed: then the version stays 0). */
  void *runtime = dlsym(lib, "hipRuntimeGetVersion")
                      ? lib
                      : open_first(NULL, hip_names, RTLD_NOLOAD, NULL, 0);
  int (*runtime_version)(int *) =
      runtime ? (int (*)(int *))dlsym(runtime, "hipRuntimeGetVersion") : NULL;
  if (runtime_version) runtime_version(&hip_version);
  size_t cg_major = 0, cg_minor = 0;
  comgr_lib = open_comgr();
  void (*cg_version)(size_t *, size_t *) =
      comgr_lib ? (void (*)(size_t *, size_t *))dlsym(comgr_lib, "amd_comgr_get_version") : NULL;
  if (cg_version) cg_version(&cg_major, &cg_minor);
  snprintf(rtc.version, sizeof rtc.version, "hiprtc %d.%d, HIP %d, comgr %zu.%zu", major, minor,
           hip_version, cg_major, cg_minor);
  rtc_table = &rtc;
}

const oeq_hiprtc_api_t *oeq_hiprtc_api(oeq_error_t *err) {
  pthread_once(&rtc_once, load_hiprtc);
  if (!rtc_table) oeq_fail(err, OEQ_ERROR_BACKEND_UNAVAILABLE, "%s", rtc_reason);
  return rtc_table;
}

/* -------------------------------------------------------------- targets */

/* The processor part of a target name: "gfx90a" of "gfx90a:xnack-" and of
 * "amdgcn-amd-amdhsa--gfx90a:sramecc+". */
static size_t processor(const char *name, const char **start) {
  const char *dash = strstr(name, "--");
  *start = dash ? dash + 2 : name;
  return strcspn(*start, ":");
}

/* The targets of ROCm 5.2's comgr, used only when comgr cannot be opened. */
static const char *const rocm52_targets[] = {
    "gfx600",  "gfx601",  "gfx602",  "gfx700",  "gfx701",  "gfx702",  "gfx703",  "gfx704",
    "gfx705",  "gfx801",  "gfx802",  "gfx803",  "gfx805",  "gfx810",  "gfx900",  "gfx902",
    "gfx904",  "gfx906",  "gfx908",  "gfx909",  "gfx90a",  "gfx90c",  "gfx1010", "gfx1011",
    "gfx1012", "gfx1013", "gfx1030", "gfx1031", "gfx1032", "gfx1033", "gfx1034", "gfx1035",
    "gfx1036",
};

oeq_status_t oeq_hip_check_arch(const char *arch, oeq_error_t *err) {
  if (!arch || strncmp(arch, "gfx", 3) != 0)
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED, "'%s' is not an AMD GPU target (gfx...)",
                    arch ? arch : "(null)");
  const oeq_hiprtc_api_t *api = oeq_hiprtc_api(err);
  if (!api) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  const char *want;
  size_t want_len = processor(arch, &want);
  int (*count_fn)(size_t *) =
      comgr_lib ? (int (*)(size_t *))dlsym(comgr_lib, "amd_comgr_get_isa_count") : NULL;
  int (*name_fn)(size_t, const char **) =
      comgr_lib ? (int (*)(size_t, const char **))dlsym(comgr_lib, "amd_comgr_get_isa_name") : NULL;
  size_t n = 0;
  if (count_fn && name_fn && count_fn(&n) == 0 && n > 0) {
    for (size_t i = 0; i < n; i++) {
      const char *isa = NULL, *p;
      if (name_fn(i, &isa) != 0 || !isa) continue;
      size_t len = processor(isa, &p);
      if (len == want_len && strncmp(p, want, len) == 0) return OEQ_SUCCESS;
    }
    return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                    "this ROCm's compiler (%s) cannot target %.*s: it is not among comgr's %zu "
                    "targets (a newer ROCm is needed for this GPU)",
                    api->version, (int)want_len, want, n);
  }
  for (size_t i = 0; i < sizeof rocm52_targets / sizeof rocm52_targets[0]; i++)
    if (strlen(rocm52_targets[i]) == want_len && strncmp(rocm52_targets[i], want, want_len) == 0)
      return OEQ_SUCCESS;
  return oeq_fail(err, OEQ_ERROR_UNSUPPORTED,
                  "comgr not found, so %s cannot be asked about %.*s; only ROCm 5.2's targets "
                  "are assumed",
                  api->version, (int)want_len, want);
}

/* --------------------------------------------------------------- compile */

static char *program_log(const oeq_hiprtc_api_t *api, hiprtcProgram prog) {
  size_t n = 0;
  if (api->hiprtcGetProgramLogSize(prog, &n) != 0 || n == 0) return NULL;
  char *log = malloc(n + 1);
  if (!log) return NULL;
  if (api->hiprtcGetProgramLog(prog, log) != 0) {
    free(log);
    return NULL;
  }
  log[n] = '\0';
  return log;
}

/* hiprtc runs one compile at a time anyway (ROCm/hip#3826), and older
 * compiler stacks were not safe to drive from two threads (comgr's
 * ROCm-CompilerSupport#27): a suite compiling on two threads died once in
 * this project's CI with a corrupted heap ("malloc(): unaligned tcache
 * chunk detected", hiprtc 9.0 / comgr 2.4), where the same suite on NVRTC
 * never has. Plan creation is thread-safe (abi.md), so compiles take turns
 * here. */
static pthread_mutex_t hiprtc_lock = PTHREAD_MUTEX_INITIALIZER;

static oeq_status_t compile_locked(const oeq_hiprtc_api_t *api, const char *source, const char *arch,
                                   const char *const *extra, int n_extra, void **code, size_t *size,
                                   char **log, oeq_error_t *err) {
  oeq_status_t st = OEQ_SUCCESS;
  hiprtcProgram prog = NULL;
  hiprtcResult r = api->hiprtcCreateProgram(&prog, source, "oeq_kernels.hip", 0, NULL, NULL);
  if (r != 0)
    return oeq_fail(err, OEQ_ERROR_COMPILE, "hiprtcCreateProgram failed: %s",
                    api->hiprtcGetErrorString(r));
  char target[160];
  /* The full gcnArchName (feature suffixes such as :sramecc+:xnack-
   * included): the code object must match the device's mode exactly. */
  snprintf(target, sizeof target, "--offload-arch=%s", arch);
  /* -ffp-contract=fast: fused multiply-adds, as NVRTC's --fmad=true. */
  const char *opts[32] = {target, "-O3", "-std=c++17", "-ffp-contract=fast"};
  int n = 4;
  for (int i = 0; i < n_extra && n < 32; i++) opts[n++] = extra[i];
  r = api->hiprtcCompileProgram(prog, n, opts);
  char *text = program_log(api, prog);
  if (r != 0) {
    char header[256];
    snprintf(header, sizeof header, "hiprtc compilation for %s failed (%s):", arch,
             api->hiprtcGetErrorString(r));
    st = oeq_fail_with_log(err, OEQ_ERROR_COMPILE, header, text);
  } else {
    size_t n_bytes = 0;
    void *bin = NULL;
    if (api->hiprtcGetCodeSize(prog, &n_bytes) != 0 || n_bytes == 0 || !(bin = malloc(n_bytes)) ||
        api->hiprtcGetCode(prog, bin) != 0) {
      free(bin);
      st = oeq_fail(err, OEQ_ERROR_COMPILE, "hiprtc produced no code object for %s", arch);
    } else {
      *code = bin;
      *size = n_bytes;
    }
  }
  api->hiprtcDestroyProgram(&prog);
  if (log)
    *log = text;
  else
    free(text);
  return st;
}

oeq_status_t oeq_hiprtc_compile(const char *source, const char *arch, const char *const *extra,
                                int n_extra, void **code, size_t *size, char **log,
                                oeq_error_t *err) {
  if (log) *log = NULL;
  oeq_status_t st = oeq_hip_check_arch(arch, err);
  if (st != OEQ_SUCCESS) return st;
  const oeq_hiprtc_api_t *api = oeq_hiprtc_api(err);
  if (!api) return OEQ_ERROR_BACKEND_UNAVAILABLE;
  pthread_mutex_lock(&hiprtc_lock);
  st = compile_locked(api, source, arch, extra, n_extra, code, size, log, err);
  pthread_mutex_unlock(&hiprtc_lock);
  return st;
}

/* ----------------------------------------------------- code object metadata */

/* The compiler records each kernel's resources in the code object: an ELF
 * note (owner "AMDGPU", type NT_AMDGPU_METADATA) holding a MessagePack map
 * whose "amdhsa.kernels" array has one map per kernel. A small reader for
 * the MessagePack subset that note uses; any malformed input sets `bad`. */
typedef struct mp {
  const unsigned char *p, *end;
  int bad;
} mp_t;

typedef enum { MP_INT, MP_STR, MP_ARRAY, MP_MAP, MP_OTHER } mp_kind_t;

typedef struct mp_item {
  mp_kind_t kind;
  long long value; /* MP_INT */
  const char *str; /* MP_STR (not terminated) */
  size_t len;      /* MP_STR length, MP_ARRAY / MP_MAP element count */
} mp_item_t;

static int mp_has(mp_t *m, size_t n) {
  if (m->bad || (size_t)(m->end - m->p) < n) m->bad = 1;
  return !m->bad;
}

static unsigned long long mp_uint(mp_t *m, int bytes) {
  unsigned long long v = 0;
  if (!mp_has(m, (size_t)bytes)) return 0;
  for (int i = 0; i < bytes; i++) v = v << 8 | *m->p++;
  return v;
}

static void mp_skip_bytes(mp_t *m, unsigned long long n) {
  if (mp_has(m, (size_t)n)) m->p += n;
}

static mp_item_t mp_next(mp_t *m) {
  mp_item_t it = {MP_OTHER, 0, NULL, 0};
  if (!mp_has(m, 1)) return it;
  unsigned c = *m->p++;
  if (c <= 0x7f) return (mp_item_t){MP_INT, (long long)c, NULL, 0};
  if (c >= 0xe0) return (mp_item_t){MP_INT, (long long)c - 256, NULL, 0};
  if ((c & 0xf0) == 0x80) return (mp_item_t){MP_MAP, 0, NULL, c & 0x0f};
  if ((c & 0xf0) == 0x90) return (mp_item_t){MP_ARRAY, 0, NULL, c & 0x0f};
  size_t str_len = 0;
  int is_str = 1;
  if ((c & 0xe0) == 0xa0)
    str_len = c & 0x1f;
  else if (c >= 0xd9 && c <= 0xdb)
    str_len = (size_t)mp_uint(m, 1 << (c - 0xd9));
  else
    is_str = 0;
  if (is_str) {
    if (mp_has(m, str_len)) it = (mp_item_t){MP_STR, 0, (const char *)m->p, str_len};
    mp_skip_bytes(m, str_len);
    return it;
  }
  switch (c) {
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
      it.kind = MP_INT, it.value = (long long)mp_uint(m, 1 << (c - 0xcc));
      break;
    case 0xd0: it.kind = MP_INT, it.value = (signed char)mp_uint(m, 1); break;
    case 0xd1: it.kind = MP_INT, it.value = (short)mp_uint(m, 2); break;
    case 0xd2: it.kind = MP_INT, it.value = (int)mp_uint(m, 4); break;
    case 0xd3: it.kind = MP_INT, it.value = (long long)mp_uint(m, 8); break;
    case 0xdc: it.kind = MP_ARRAY, it.len = (size_t)mp_uint(m, 2); break;
    case 0xdd: it.kind = MP_ARRAY, it.len = (size_t)mp_uint(m, 4); break;
    case 0xde: it.kind = MP_MAP, it.len = (size_t)mp_uint(m, 2); break;
    case 0xdf: it.kind = MP_MAP, it.len = (size_t)mp_uint(m, 4); break;
    case 0xc0: case 0xc2: case 0xc3: break;                       /* nil, false, true */
    case 0xca: mp_skip_bytes(m, 4); break;                        /* float32 */
    case 0xcb: mp_skip_bytes(m, 8); break;                        /* float64 */
    case 0xc4: mp_skip_bytes(m, mp_uint(m, 1)); break;            /* bin */
    case 0xc5: mp_skip_bytes(m, mp_uint(m, 2)); break;
    case 0xc6: mp_skip_bytes(m, mp_uint(m, 4)); break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:        /* fixext */
      mp_skip_bytes(m, 1 + (1ull << (c - 0xd4)));
      break;
    case 0xc7: case 0xc8: case 0xc9:                              /* ext */
      mp_skip_bytes(m, 1 + mp_uint(m, 1 << (c - 0xc7)));
      break;
    default: m->bad = 1;
  }
  return it;
}

/* Skip one value with everything inside it (depth-limited). */
static void mp_skip_value(mp_t *m, int depth) {
  mp_item_t it = mp_next(m);
  if (depth > 32) m->bad = 1;
  if (it.kind == MP_ARRAY || it.kind == MP_MAP) {
    size_t n = it.kind == MP_MAP ? 2 * it.len : it.len;
    for (size_t i = 0; i < n && !m->bad; i++) mp_skip_value(m, depth + 1);
  }
}

static int mp_is(const mp_item_t *it, const char *s) {
  return it->kind == MP_STR && it->len == strlen(s) && memcmp(it->str, s, it->len) == 0;
}

static void read_kernel(mp_t *m, size_t n_fields, oeq_hip_kernel_info_t *k) {
  static const struct { const char *key; size_t offset; } fields[] = {
      {".vgpr_count", offsetof(oeq_hip_kernel_info_t, vgpr_count)},
      {".agpr_count", offsetof(oeq_hip_kernel_info_t, agpr_count)},
      {".sgpr_count", offsetof(oeq_hip_kernel_info_t, sgpr_count)},
      {".vgpr_spill_count", offsetof(oeq_hip_kernel_info_t, vgpr_spill_count)},
      {".sgpr_spill_count", offsetof(oeq_hip_kernel_info_t, sgpr_spill_count)},
      {".private_segment_fixed_size", offsetof(oeq_hip_kernel_info_t, private_segment_bytes)},
      {".group_segment_fixed_size", offsetof(oeq_hip_kernel_info_t, group_segment_bytes)},
      {".wavefront_size", offsetof(oeq_hip_kernel_info_t, wavefront_size)},
  };
  const size_t n_known = sizeof fields / sizeof fields[0];
  for (size_t f = 0; f < n_known; f++) *(int *)((char *)k + fields[f].offset) = -1;
  k->name[0] = '\0';
  for (size_t i = 0; i < n_fields && !m->bad; i++) {
    mp_item_t key = mp_next(m);
    const unsigned char *value_at = m->p;
    mp_item_t value = mp_next(m);
    if (mp_is(&key, ".name") && value.kind == MP_STR) {
      snprintf(k->name, sizeof k->name, "%.*s", (int)value.len, value.str);
      continue;
    }
    size_t f = 0;
    while (f < n_known && !mp_is(&key, fields[f].key)) f++;
    if (f < n_known && value.kind == MP_INT) {
      *(int *)((char *)k + fields[f].offset) = (int)value.value;
    } else if (value.kind == MP_ARRAY || value.kind == MP_MAP) {
      m->p = value_at; /* re-read the container to skip its contents */
      mp_skip_value(m, 1);
    }
  }
}

static oeq_status_t parse_metadata(const unsigned char *desc, size_t len,
                                   oeq_hip_kernel_info_t *out, int max, int *count,
                                   oeq_error_t *err) {
  mp_t m = {desc, desc + len, 0};
  mp_item_t top = mp_next(&m);
  if (top.kind != MP_MAP)
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "code object metadata is not a MessagePack map");
  for (size_t i = 0; i < top.len && !m.bad; i++) {
    mp_item_t key = mp_next(&m);
    if (!mp_is(&key, "amdhsa.kernels")) {
      mp_skip_value(&m, 1);
      continue;
    }
    mp_item_t kernels = mp_next(&m);
    if (kernels.kind != MP_ARRAY) break;
    for (size_t k = 0; k < kernels.len && !m.bad; k++) {
      mp_item_t map = mp_next(&m);
      if (map.kind != MP_MAP) {
        m.bad = 1;
        break;
      }
      oeq_hip_kernel_info_t scratch, *dst = *count < max ? &out[*count] : &scratch;
      read_kernel(&m, map.len, dst);
      ++*count;
    }
    break;
  }
  if (m.bad) return oeq_fail(err, OEQ_ERROR_INTERNAL, "code object metadata is malformed");
  return OEQ_SUCCESS;
}

/* A clang offload bundle (what some hiprtc releases return) holds the
 * code object as one of its entries: find the amdgcn one. */
static int unbundle(const unsigned char **image, size_t *size) {
  static const char magic[] = "__CLANG_OFFLOAD_BUNDLE__";
  const size_t mlen = sizeof magic - 1;
  const unsigned char *b = *image;
  if (*size < mlen + 8 || memcmp(b, magic, mlen) != 0) return 1;
  mp_t m = {b + mlen, b + *size, 0};
  /* The bundle header's integers are little-endian 64-bit. */
  unsigned long long n = 0, fields[3];
  for (int i = 0; i < 8 && mp_has(&m, 1); i++) n |= (unsigned long long)*m.p++ << (8 * i);
  for (unsigned long long e = 0; e < n && !m.bad; e++) {
    for (int f = 0; f < 3; f++) {
      fields[f] = 0;
      for (int i = 0; i < 8 && mp_has(&m, 1); i++)
        fields[f] |= (unsigned long long)*m.p++ << (8 * i);
    }
    if (!mp_has(&m, (size_t)fields[2])) return 0;
    const char *triple = (const char *)m.p;
    m.p += fields[2];
    if (fields[2] >= 6 && memmem(triple, (size_t)fields[2], "amdgcn", 6) && fields[1] > 0 &&
        fields[0] <= *size && fields[1] <= *size - fields[0]) {
      *image = b + fields[0];
      *size = (size_t)fields[1];
      return 1;
    }
  }
  return 0;
}

oeq_status_t oeq_hip_code_object_kernels(const void *image, size_t size,
                                         oeq_hip_kernel_info_t *out, int max, int *count,
                                         oeq_error_t *err) {
  const unsigned char *b = image;
  *count = 0;
  if (!b || !unbundle(&b, &size))
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "offload bundle without an amdgcn code object");
  Elf64_Ehdr eh;
  if (size < sizeof eh || memcmp(b, ELFMAG, SELFMAG) != 0 || b[EI_CLASS] != ELFCLASS64)
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "not a 64-bit ELF code object");
  memcpy(&eh, b, sizeof eh);
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > size ||
      (size - eh.e_shoff) / sizeof(Elf64_Shdr) < eh.e_shnum)
    return oeq_fail(err, OEQ_ERROR_INTERNAL, "code object has a bad section table");
  for (unsigned s = 0; s < eh.e_shnum; s++) {
    Elf64_Shdr sh;
    memcpy(&sh, b + eh.e_shoff + (size_t)s * sizeof sh, sizeof sh);
    if (sh.sh_type != SHT_NOTE || sh.sh_offset > size || sh.sh_size > size - sh.sh_offset) continue;
    const unsigned char *p = b + sh.sh_offset, *end = p + sh.sh_size;
    while ((size_t)(end - p) >= sizeof(Elf64_Nhdr)) {
      Elf64_Nhdr nh;
      memcpy(&nh, p, sizeof nh);
      size_t name_pad = ((size_t)nh.n_namesz + 3) & ~(size_t)3;
      size_t desc_pad = ((size_t)nh.n_descsz + 3) & ~(size_t)3;
      p += sizeof nh;
      if ((size_t)(end - p) < name_pad || (size_t)(end - p) - name_pad < nh.n_descsz) break;
      const unsigned char *name = p, *desc = p + name_pad;
      if (nh.n_type == 32 /* NT_AMDGPU_METADATA */ && nh.n_namesz == 7 &&
          memcmp(name, "AMDGPU", 7) == 0)
        return parse_metadata(desc, nh.n_descsz, out, max, count, err);
      if ((size_t)(end - desc) < desc_pad) break;
      p = desc + desc_pad;
    }
  }
  return oeq_fail(err, OEQ_ERROR_INTERNAL, "code object has no AMDGPU metadata note");
}
