"""oeq: a ctypes binding of liboeq (e3nn's Clebsch-Gordan tensor products).

No compiled extension: the C ABI of include/oeq.h is declared here with
ctypes. The library is found through $OEQ_LIBRARY (a path), else
ctypes.util.find_library("oeq"), else a build tree next to this file
(../../build/.libs, ../../.libs) or $OEQ_BUILDDIR/.libs.

Arrays are row-major, as in C: x is (batch, in1_dim), w is (batch,
weight_numel) or, with shared weights, (weight_numel,) / (1, weight_numel).
CPU plans take NumPy arrays (or CPU torch tensors); GPU plans take device
arrays: anything with __cuda_array_interface__ (CuPy, Numba, PyTorch) or a
torch.Tensor (through data_ptr(), so requires_grad tensors work too).
Shapes, dtypes, contiguity and devices are checked here, before C is called
(ValueError / TypeError); failures inside the library raise OeqError with the
status and oeq_last_error().

GPU calls are asynchronous on `stream`: None (the default stream), an int
handle, or an object with .cuda_stream (torch.cuda.Stream) or .ptr (CuPy),
e.g. stream=torch.cuda.current_stream().cuda_stream.

    import numpy as np, oeq
    prob = oeq.Problem.fully_connected("4x0e+4x1o", "1x0e+1x1o", "4x0e+4x1o")
    plan = oeq.Plan.tp(prob, oeq.Backend.CPU)
    x = np.random.rand(10, plan.x_dim).astype(np.float32)
    y = np.random.rand(10, plan.y_dim).astype(np.float32)
    w = np.random.rand(plan.weight_numel).astype(np.float32)
    z = plan.tp_forward(x, y, w)
"""
import ctypes
import ctypes.util
import enum
import json
import os
import sys

ABI_VERSION = 1


class Status(enum.IntEnum):
    SUCCESS = 0
    ERROR_INVALID_ARGUMENT = 1
    ERROR_PARSE = 2
    ERROR_INVALID_PROBLEM = 3
    ERROR_UNSUPPORTED = 4
    ERROR_BACKEND_UNAVAILABLE = 5
    ERROR_COMPILE = 6
    ERROR_DEVICE = 7
    ERROR_OUT_OF_MEMORY = 8
    ERROR_IO = 9
    ERROR_INTERNAL = 10


class Mode(enum.IntEnum):
    UVW = 0
    UVU = 1
    UVV = 2
    UUW = 3
    UUU = 4
    UVUV = 5


class DType(enum.IntEnum):
    FLOAT32 = 0
    FLOAT64 = 1


class Backend(enum.IntEnum):
    AUTO = 0
    CPU = 1
    CUDA = 2
    HIP = 3


class IrrepNorm(enum.IntEnum):
    COMPONENT = 0
    NORM = 1
    NONE = 2


class PathNorm(enum.IntEnum):
    ELEMENT = 0
    PATH = 1
    NONE = 2


class Layout(enum.IntEnum):
    MUL_IR = 0
    IR_MUL = 1


# plan flags (oeq_plan_create_conv)
CONV_DETERMINISTIC = 1 << 0
CONV_KAHAN = 1 << 1
INDEX_INT64 = 1 << 2

_MODE_NAMES = {"uvw": Mode.UVW, "uvu": Mode.UVU, "uvv": Mode.UVV, "uuw": Mode.UUW,
               "uuu": Mode.UUU, "uvuv": Mode.UVUV}


class OeqError(RuntimeError):
    """A failure reported by liboeq: .status (Status) and .message (oeq_last_error())."""

    def __init__(self, status, message, where=""):
        self.status = Status(status) if status in Status._value2member_map_ else status
        self.message = message
        name = self.status.name if isinstance(self.status, Status) else str(status)
        super().__init__(f"{where + ': ' if where else ''}{name}: {message}")


# ------------------------------------------------------------------ library

class _ProblemS(ctypes.Structure):
    pass


class _PlanS(ctypes.Structure):
    pass


_ProblemP = ctypes.POINTER(_ProblemS)
_PlanP = ctypes.POINTER(_PlanS)
_c_int, _c_i64, _c_u32, _c_size, _c_dbl = (ctypes.c_int, ctypes.c_int64, ctypes.c_uint32,
                                          ctypes.c_size_t, ctypes.c_double)
_vp, _cp = ctypes.c_void_p, ctypes.c_char_p

# name -> (restype, argtypes), in the order of oeq.h
_PROTOTYPES = {
    "oeq_abi_version": (_c_int, []),
    "oeq_version": (_cp, []),
    "oeq_status_string": (_cp, [_c_int]),
    "oeq_last_error": (_cp, []),
    "oeq_backend_available": (_c_int, [_c_int]),
    "oeq_problem_create": (_c_int, [_cp, _cp, _cp, ctypes.POINTER(_ProblemP)]),
    "oeq_problem_add_instruction": (_c_int, [_ProblemP, _c_int, _c_int, _c_int, _c_int, _c_int, _c_dbl]),
    "oeq_problem_set_dtypes": (_c_int, [_ProblemP, _c_int, _c_int]),
    "oeq_problem_set_shared_weights": (_c_int, [_ProblemP, _c_int]),
    "oeq_problem_set_normalization": (_c_int, [_ProblemP, _c_int, _c_int]),
    "oeq_problem_set_layout": (_c_int, [_ProblemP, _c_int]),
    "oeq_problem_set_variances": (_c_int, [_ProblemP, ctypes.POINTER(_c_dbl), ctypes.POINTER(_c_dbl),
                                           ctypes.POINTER(_c_dbl)]),
    "oeq_problem_weight_numel": (_c_int, [_ProblemP, ctypes.POINTER(_c_i64)]),
    "oeq_problem_dims": (_c_int, [_ProblemP, ctypes.POINTER(_c_i64), ctypes.POINTER(_c_i64),
                                  ctypes.POINTER(_c_i64)]),
    "oeq_problem_describe": (_c_int, [_ProblemP, ctypes.c_char_p, _c_size, ctypes.POINTER(_c_size)]),
    "oeq_problem_destroy": (None, [_ProblemP]),
    "oeq_problem_create_fully_connected": (_c_int, [_cp, _cp, _cp, ctypes.POINTER(_ProblemP)]),
    "oeq_problem_create_channelwise": (_c_int, [_cp, _cp, _cp, ctypes.POINTER(_ProblemP)]),
    "oeq_plan_create_tp": (_c_int, [_ProblemP, _c_int, _c_int, ctypes.POINTER(_PlanP)]),
    "oeq_plan_create_conv": (_c_int, [_ProblemP, _c_int, _c_int, _c_u32, ctypes.POINTER(_PlanP)]),
    "oeq_plan_backend": (_c_int, [_PlanP, ctypes.POINTER(_c_int)]),
    "oeq_plan_destroy": (None, [_PlanP]),
    "oeq_tp_forward": (_c_int, [_PlanP, _c_i64, _vp, _vp, _vp, _vp, _vp]),
    "oeq_tp_backward": (_c_int, [_PlanP, _c_i64, _vp, _vp, _vp, _vp, _vp, _vp, _vp, _vp]),
    "oeq_conv_workspace_size": (_c_int, [_PlanP, _c_i64, _c_i64, _c_i64, ctypes.POINTER(_c_size)]),
    "oeq_conv_forward": (_c_int, [_PlanP, _c_i64, _c_i64, _c_i64, _vp, _vp, _vp, _vp, _vp, _vp, _vp,
                                  _vp, _c_size, _vp]),
    "oeq_conv_backward": (_c_int, [_PlanP, _c_i64, _c_i64, _c_i64, _vp, _vp, _vp, _vp, _vp, _vp, _vp,
                                   _vp, _vp, _vp, _vp, _c_size, _vp]),
}


def _candidates():
    env = os.environ.get("OEQ_LIBRARY")
    if env:
        yield env
        return
    found = ctypes.util.find_library("oeq")
    if found:
        yield found
    here = os.path.dirname(os.path.abspath(__file__))
    name = {"darwin": "liboeq.dylib", "win32": "oeq.dll"}.get(sys.platform, "liboeq.so")
    dirs = [os.path.join(os.environ["OEQ_BUILDDIR"], ".libs")] if os.environ.get("OEQ_BUILDDIR") else []
    dirs += [os.path.join(here, "..", "..", "build", ".libs"), os.path.join(here, "..", "..", ".libs")]
    for d in dirs:
        yield os.path.normpath(os.path.join(d, name))


def _load():
    errors = []
    for path in _candidates():
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append(f"{path}: {e}")
    else:
        raise ImportError("oeq: cannot load liboeq (set OEQ_LIBRARY to its path); tried: "
                          + "; ".join(errors or ["nothing found"]))
    for name, (res, args) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    if lib.oeq_abi_version() != ABI_VERSION:
        raise ImportError(f"oeq: {path} has ABI {lib.oeq_abi_version()}, this module needs {ABI_VERSION}")
    return lib, path


_lib, library_path = _load()


def _check(status, where):
    if status != Status.SUCCESS:
        # oeq_last_error is valid until this thread's next oeq call: read it first.
        message = (_lib.oeq_last_error() or b"").decode("utf-8", "replace")
        raise OeqError(status, message, where)


def version():
    return _lib.oeq_version().decode()


def status_string(status):
    return _lib.oeq_status_string(int(status)).decode()


def backend_available(backend):
    """True if plans can be made on `backend` now."""
    return _lib.oeq_backend_available(int(backend)) != 0


def _bytes(s, what):
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, not {type(s).__name__}")
    return s.encode("utf-8")


# ------------------------------------------------------------------ problem

class Problem:
    """What to compute: e3nn's TensorProduct without internal weights."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions=(), *, _builder=None):
        """Instructions are e3nn's tuples (i_in1, i_in2, i_out, mode[, has_weight[, path_weight]]),
        mode a Mode or its name ("uvw", "uvu", ...)."""
        h = _ProblemP()
        fn = _builder or _lib.oeq_problem_create
        _check(fn(_bytes(irreps_in1, "irreps_in1"), _bytes(irreps_in2, "irreps_in2"),
                  _bytes(irreps_out, "irreps_out"), ctypes.byref(h)), "problem")
        self._h = h
        for ins in instructions:
            self.add_instruction(*ins)

    @classmethod
    def fully_connected(cls, irreps_in1, irreps_in2, irreps_out):
        return cls(irreps_in1, irreps_in2, irreps_out, _builder=_lib.oeq_problem_create_fully_connected)

    @classmethod
    def channelwise(cls, irreps_in1, irreps_in2, filter_out):
        return cls(irreps_in1, irreps_in2, filter_out, _builder=_lib.oeq_problem_create_channelwise)

    @property
    def handle(self):
        if not self._h:
            raise ValueError("the problem has been closed")
        return self._h

    def close(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            _lib.oeq_problem_destroy(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def add_instruction(self, i_in1, i_in2, i_out, mode, has_weight=True, path_weight=1.0):
        if isinstance(mode, str):
            if mode not in _MODE_NAMES:
                raise ValueError(f"mode {mode!r} is not one of {sorted(_MODE_NAMES)}")
            mode = _MODE_NAMES[mode]
        _check(_lib.oeq_problem_add_instruction(self.handle, int(i_in1), int(i_in2), int(i_out), int(mode),
                                                1 if has_weight else 0, float(path_weight)),
               "add_instruction")
        return self

    def set_dtypes(self, irrep_dtype, weight_dtype=None):
        """DType values, or "float32"/"float64"/NumPy dtypes; weight_dtype defaults to irrep_dtype."""
        i = _as_dtype(irrep_dtype)
        w = i if weight_dtype is None else _as_dtype(weight_dtype)
        _check(_lib.oeq_problem_set_dtypes(self.handle, int(i), int(w)), "set_dtypes")
        return self

    def set_shared_weights(self, shared):
        _check(_lib.oeq_problem_set_shared_weights(self.handle, 1 if shared else 0), "set_shared_weights")
        return self

    def set_normalization(self, irrep=IrrepNorm.COMPONENT, path=PathNorm.ELEMENT):
        _check(_lib.oeq_problem_set_normalization(self.handle, int(irrep), int(path)), "set_normalization")
        return self

    def set_layout(self, layout):
        _check(_lib.oeq_problem_set_layout(self.handle, int(layout)), "set_layout")
        return self

    def set_variances(self, in1_var=None, in2_var=None, out_var=None):
        """One value per irreps entry each (None: all ones)."""
        info = self.describe()
        arrays = []
        for name, values, key in (("in1_var", in1_var, "in1"), ("in2_var", in2_var, "in2"),
                                  ("out_var", out_var, "out")):
            if values is None:
                arrays.append(None)
                continue
            values = [float(v) for v in values]
            want = _irreps_entries(info[key]["irreps"])
            if len(values) != want:
                raise ValueError(f"{name} has {len(values)} values; irreps_{key} has {want} entries")
            arrays.append((_c_dbl * len(values))(*values) if values else None)
        _check(_lib.oeq_problem_set_variances(self.handle, *arrays), "set_variances")
        return self

    @property
    def weight_numel(self):
        n = _c_i64()
        _check(_lib.oeq_problem_weight_numel(self.handle, ctypes.byref(n)), "weight_numel")
        return n.value

    @property
    def dims(self):
        """(in1_dim, in2_dim, out_dim): row widths of x, y, z."""
        a, b, c = _c_i64(), _c_i64(), _c_i64()
        _check(_lib.oeq_problem_dims(self.handle, ctypes.byref(a), ctypes.byref(b), ctypes.byref(c)), "dims")
        return a.value, b.value, c.value

    def describe(self):
        """The problem as a dict (oeq_problem_describe's JSON)."""
        needed = _c_size()
        _check(_lib.oeq_problem_describe(self.handle, None, 0, ctypes.byref(needed)), "describe")
        buf = ctypes.create_string_buffer(needed.value + 1)
        _check(_lib.oeq_problem_describe(self.handle, buf, len(buf), ctypes.byref(needed)), "describe")
        return json.loads(buf.value.decode())


def _irreps_entries(text):
    return 0 if not text.strip() else text.count("+") + 1


def _as_dtype(d):
    if isinstance(d, DType):
        return d
    if isinstance(d, int):
        return DType(d)
    name = str(getattr(d, "name", d)).replace("torch.", "")
    if name in ("float32", "float"):
        return DType.FLOAT32
    if name in ("float64", "double"):
        return DType.FLOAT64
    raise ValueError(f"dtype {d!r}: oeq supports float32 and float64")


# ------------------------------------------------------------ array access

_TYPESTR = {"<f4": "float32", "<f8": "float64", "<i4": "int32", "<i8": "int64"}
_ITEMSIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8}


class _View:
    """What the checks need of one array: address, shape, dtype name, device, readonly."""
    __slots__ = ("ptr", "shape", "dtype", "on_gpu", "readonly", "obj")

    def __init__(self, ptr, shape, dtype, on_gpu, readonly, obj):
        self.ptr, self.shape, self.dtype = ptr, shape, dtype  # shape: a tuple of ints
        self.on_gpu, self.readonly, self.obj = on_gpu, readonly, obj


# Per array type and torch dtype, computed once: a call's checks run on
# every launch, and for small batches their Python time is the call's
# time (bench/NOTES.md run J: ~40 us a forward call before these caches).
_TORCH_TYPES = {}
_TORCH_DTYPE_NAMES = {}


def _is_torch(a):
    t = type(a)
    known = _TORCH_TYPES.get(t)
    if known is None:
        known = _TORCH_TYPES[t] = t.__module__.split(".")[0] == "torch" and hasattr(t, "data_ptr")
    return known


def _torch_address(t, dtype, shape):
    """t's device address if t is a torch tensor on the GPU exactly as a plan
    takes it (dtype object, shape, contiguous), else 0 and the general checks
    run and say what is wrong. The fast path of tp_forward / tp_backward: a
    few attribute reads instead of a _View per array."""
    if (_TORCH_TYPES.get(type(t)) and t.dtype is dtype and t.is_cuda and t.shape == shape
            and t.is_contiguous()):
        return t.data_ptr()
    return 0


def _torch_dtype_name(dt):
    name = _TORCH_DTYPE_NAMES.get(dt)
    if name is None:
        name = _TORCH_DTYPE_NAMES[dt] = str(dt).replace("torch.", "")
    return name


def _view(a, name):
    """Reads an array without copying; TypeError/ValueError for what oeq cannot take."""
    if _is_torch(a):
        if not a.is_contiguous():
            raise ValueError(f"{name} must be contiguous (call .contiguous())")
        return _View(a.data_ptr() if a.numel() else None, tuple(a.shape), _torch_dtype_name(a.dtype),
                     a.is_cuda, False, a)
    cai = getattr(a, "__cuda_array_interface__", None)
    if cai is not None:
        typestr = cai["typestr"]
        if typestr not in _TYPESTR:
            raise TypeError(f"{name} has element type {typestr}; oeq takes float32/float64 and int32/int64")
        dtype, shape = _TYPESTR[typestr], tuple(int(n) for n in cai["shape"])
        strides = cai.get("strides")
        if strides is not None and _numel(shape) > 1:
            expect, acc = [], _ITEMSIZE[dtype]
            for s in reversed(shape):
                expect.append(acc)
                acc *= s
            if any(st != ex for st, ex, n in zip(strides, reversed(expect), shape) if n > 1):
                raise ValueError(f"{name} must be C-contiguous (strides {strides})")
        ptr, readonly = cai["data"]
        return _View(ptr or None, shape, dtype, True, bool(readonly), a)
    if hasattr(a, "__array_interface__") and hasattr(a, "flags") and hasattr(a, "ctypes"):  # NumPy
        if not a.flags["C_CONTIGUOUS"]:
            raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
        if not a.flags["ALIGNED"]:
            raise ValueError(f"{name} is not aligned")
        dtype = a.dtype.name if a.dtype.byteorder in ("=", "<", "|") else "non-native"
        return _View(a.ctypes.data if a.size else None, tuple(int(n) for n in a.shape), dtype, False,
                     not a.flags["WRITEABLE"], a)
    raise TypeError(f"{name}: {type(a).__name__} is not an array oeq can take (NumPy array for CPU plans, "
                    "torch tensor or __cuda_array_interface__ object for GPU plans)")


def _numel(shape):
    n = 1
    for s in shape:
        n *= int(s)
    return n


def _stream_handle(stream):
    if stream is None:
        return None
    if isinstance(stream, int):
        return stream or None
    for attr in ("cuda_stream", "ptr", "handle"):
        h = getattr(stream, attr, None)
        if isinstance(h, int):
            return h or None
    raise TypeError(f"stream: {type(stream).__name__} is not an int handle or a stream object "
                    "(torch.cuda.Stream, cupy Stream)")


def _empty_like(ref, shape, dtype):
    """A new output array from the same library (and device) as `ref`."""
    obj = ref.obj
    mod = type(obj).__module__.split(".")[0]
    if _is_torch(obj):
        import torch
        return torch.empty(shape, dtype=getattr(torch, dtype), device=obj.device)
    if mod == "cupy":
        import cupy
        return cupy.empty(shape, dtype=dtype)
    if mod == "numpy":
        import numpy
        return numpy.empty(shape, dtype=dtype)
    raise TypeError(f"cannot allocate an output like {type(obj).__name__}: pass the output array")


# -------------------------------------------------------------------- plans

class Plan:
    """A problem compiled for one backend and device. Make with Plan.tp or Plan.conv."""

    def __init__(self, problem, backend=Backend.AUTO, device=0, flags=0, *, conv=False):
        if not isinstance(problem, Problem):
            raise TypeError("problem must be an oeq.Problem")
        h = _PlanP()
        if conv:
            _check(_lib.oeq_plan_create_conv(problem.handle, int(backend), int(device), int(flags),
                                             ctypes.byref(h)), "plan_create_conv")
        else:
            _check(_lib.oeq_plan_create_tp(problem.handle, int(backend), int(device), ctypes.byref(h)),
                   "plan_create_tp")
        self._h = h
        b = _c_int()
        _check(_lib.oeq_plan_backend(h, ctypes.byref(b)), "plan_backend")
        info = problem.describe()
        self.backend = Backend(b.value)
        self.is_conv, self.flags, self.device = conv, int(flags), int(device)
        self.x_dim, self.y_dim, self.z_dim = problem.dims
        self.weight_numel = problem.weight_numel
        self.irrep_dtype = info["irrep_dtype"]
        self.weight_dtype = info["weight_dtype"]
        self.shared_weights = bool(info["shared_weights"])
        self.index_dtype = "int64" if flags & INDEX_INT64 else "int32"
        # (irrep, weight) torch dtypes once a GPU call has taken torch tensors: turns on the fast path
        self._torch_dtypes = None

    @classmethod
    def tp(cls, problem, backend=Backend.AUTO, device=0):
        return cls(problem, backend, device, 0, conv=False)

    @classmethod
    def conv(cls, problem, backend=Backend.AUTO, device=0, flags=0):
        return cls(problem, backend, device, flags, conv=True)

    @property
    def handle(self):
        if not self._h:
            raise ValueError("the plan has been closed")
        return self._h

    @property
    def on_gpu(self):
        return self.backend in (Backend.CUDA, Backend.HIP)

    def close(self):
        h, self._h = getattr(self, "_h", None), None
        if h:
            _lib.oeq_plan_destroy(h)

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---------------------------------------------------------- checks
    def _arr(self, a, name, dtype, shape, output=False, alt_shapes=()):
        return self._checked(_view(a, name), name, dtype, shape, output, alt_shapes)

    def _checked(self, v, name, dtype, shape, output=False, alt_shapes=()):
        if v.on_gpu != self.on_gpu:
            where = "a device array" if v.on_gpu else "a host array"
            raise TypeError(f"{name} is {where} but the plan runs on {self.backend.name}")
        if v.dtype != dtype:
            raise TypeError(f"{name} has dtype {v.dtype}, the plan needs {dtype}")
        if v.shape != tuple(shape) and v.shape not in [tuple(s) for s in alt_shapes]:
            raise ValueError(f"{name} has shape {v.shape}, expected {tuple(shape)}")
        if output and v.readonly:
            raise ValueError(f"{name} is read-only")
        return v

    def _kind(self, conv):
        if self.is_conv != conv:
            raise ValueError("this is a convolution plan: use conv_forward/conv_backward" if self.is_conv
                             else "this is a tensor-product plan: use tp_forward/tp_backward")

    def _stream(self, stream):
        h = _stream_handle(stream)
        if h is not None and not self.on_gpu:
            raise ValueError("a CPU plan takes stream=None")
        return h

    def _w(self, w, name, rows, output=False):
        n = self.weight_numel
        if w is None and n == 0:
            return _View(None, (0,), self.weight_dtype, self.on_gpu, False, None)
        if self.shared_weights:
            return self._arr(w, name, self.weight_dtype, (n,), output, alt_shapes=[(1, n)])
        return self._arr(w, name, self.weight_dtype, (rows, n), output)

    def _out(self, out, like, name, shape, dtype):
        if out is None:
            out = _empty_like(like, shape, dtype)
        return out

    def _note_torch(self, v):
        """After a GPU call that passed the general checks with torch tensors: the
        dtypes the fast path compares against."""
        if self.on_gpu and _is_torch(v.obj) and not self.is_conv:
            torch = sys.modules["torch"]
            self._torch_dtypes = (getattr(torch, self.irrep_dtype), getattr(torch, self.weight_dtype))

    def _fast_w_shape(self, batch):
        return (self.weight_numel,) if self.shared_weights else (batch, self.weight_numel)

    # ----------------------------------------------------- tensor product
    def tp_forward(self, x, y, w, z=None, stream=None):
        """z[b] = TP(x[b], y[b], w[b] or w). Returns z (allocated like x when not given)."""
        dts = self._torch_dtypes
        if dts is not None and z is not None and _TORCH_TYPES.get(type(x)) and x.dim() == 2:
            b = x.shape[0]
            px = _torch_address(x, dts[0], (b, self.x_dim))
            py = px and _torch_address(y, dts[0], (b, self.y_dim))
            pw = py and _torch_address(w, dts[1], self._fast_w_shape(b))
            pz = pw and _torch_address(z, dts[0], (b, self.z_dim))
            if pz:
                _check(_lib.oeq_tp_forward(self.handle, b, px, py, pw, pz, _stream_handle(stream)),
                       "tp_forward")
                return z
        self._kind(False)
        st = self._stream(stream)
        vx = _view(x, "x")
        if len(vx.shape) != 2:
            raise ValueError(f"x must be 2-D (batch, {self.x_dim}), not {vx.shape}")
        batch = vx.shape[0]
        vx = self._checked(vx, "x", self.irrep_dtype, (batch, self.x_dim))
        vy = self._arr(y, "y", self.irrep_dtype, (batch, self.y_dim))
        vw = self._w(w, "w", batch)
        z = self._out(z, vx, "z", (batch, self.z_dim), self.irrep_dtype)
        vz = self._arr(z, "z", self.irrep_dtype, (batch, self.z_dim), output=True)
        _check(_lib.oeq_tp_forward(self.handle, batch, vx.ptr, vy.ptr, vw.ptr, vz.ptr, st), "tp_forward")
        if batch and self._torch_dtypes is None:
            self._note_torch(vx)
        return z

    def tp_backward(self, x, y, w, dz, dx=None, dy=None, dw=None, stream=None):
        """Gradients of <dz, TP(x, y, w)>: returns (dx, dy, dw)."""
        dts = self._torch_dtypes
        if (dts is not None and dw is not None and dx is not None and dy is not None
                and _TORCH_TYPES.get(type(x)) and x.dim() == 2):
            b, ir = x.shape[0], dts[0]
            px = _torch_address(x, ir, (b, self.x_dim))
            py = px and _torch_address(y, ir, (b, self.y_dim))
            pw = py and _torch_address(w, dts[1], self._fast_w_shape(b))
            pdz = pw and _torch_address(dz, ir, (b, self.z_dim))
            pdx = pdz and _torch_address(dx, ir, (b, self.x_dim))
            pdy = pdx and _torch_address(dy, ir, (b, self.y_dim))
            pdw = pdy and _torch_address(dw, dts[1], self._fast_w_shape(b))
            if pdw:
                _check(_lib.oeq_tp_backward(self.handle, b, px, py, pw, pdz, pdx, pdy, pdw,
                                            _stream_handle(stream)), "tp_backward")
                return dx, dy, dw
        self._kind(False)
        st = self._stream(stream)
        vx = _view(x, "x")
        if len(vx.shape) != 2:
            raise ValueError(f"x must be 2-D (batch, {self.x_dim}), not {vx.shape}")
        batch = vx.shape[0]
        vx = self._checked(vx, "x", self.irrep_dtype, (batch, self.x_dim))
        vy = self._arr(y, "y", self.irrep_dtype, (batch, self.y_dim))
        vw = self._w(w, "w", batch)
        vdz = self._arr(dz, "dz", self.irrep_dtype, (batch, self.z_dim))
        dw_shape = (self.weight_numel,) if self.shared_weights else (batch, self.weight_numel)
        dx = self._out(dx, vx, "dx", (batch, self.x_dim), self.irrep_dtype)
        dy = self._out(dy, vx, "dy", (batch, self.y_dim), self.irrep_dtype)
        dw = self._out(dw, vx, "dw", dw_shape, self.weight_dtype)
        vdx = self._arr(dx, "dx", self.irrep_dtype, (batch, self.x_dim), output=True)
        vdy = self._arr(dy, "dy", self.irrep_dtype, (batch, self.y_dim), output=True)
        vdw = self._w(dw, "dw", batch, output=True)
        _check(_lib.oeq_tp_backward(self.handle, batch, vx.ptr, vy.ptr, vw.ptr, vdz.ptr, vdx.ptr, vdy.ptr,
                                    vdw.ptr, st), "tp_backward")
        if batch and self._torch_dtypes is None:
            self._note_torch(vx)
        return dx, dy, dw

    # -------------------------------------------------------- convolution
    def conv_workspace_size(self, x_rows, z_rows, edges):
        """Bytes of workspace conv_forward/conv_backward use (0 on the CPU)."""
        self._kind(True)
        n = _c_size()
        _check(_lib.oeq_conv_workspace_size(self.handle, int(x_rows), int(z_rows), int(edges),
                                            ctypes.byref(n)), "conv_workspace_size")
        return n.value

    def _graph(self, x, y, w, rows, cols, sender_perm, z_rows):
        vx = _view(x, "x")
        if len(vx.shape) != 2:
            raise ValueError(f"x must be 2-D (x_rows, {self.x_dim}), not {vx.shape}")
        x_rows = vx.shape[0]
        vr = _view(rows, "rows")
        if len(vr.shape) != 1:
            raise ValueError(f"rows must be 1-D (edges,), not {vr.shape}")
        edges = vr.shape[0]
        vx = self._checked(vx, "x", self.irrep_dtype, (x_rows, self.x_dim))
        vy = self._arr(y, "y", self.irrep_dtype, (edges, self.y_dim))
        vw = self._w(w, "w", edges)
        vr = self._checked(vr, "rows", self.index_dtype, (edges,))
        vc = self._arr(cols, "cols", self.index_dtype, (edges,))
        if sender_perm is not None:
            vp = self._arr(sender_perm, "sender_perm", self.index_dtype, (edges,))
        elif self.flags & CONV_DETERMINISTIC:
            raise ValueError("a CONV_DETERMINISTIC plan needs sender_perm (the permutation sorting edges by cols)")
        else:
            vp = None
        if z_rows is not None and int(z_rows) < 0:
            raise ValueError(f"z_rows = {z_rows} is negative")
        return vx, vy, vw, vr, vc, vp, x_rows, edges

    def _workspace(self, workspace, workspace_bytes):
        if workspace is None:
            return None, 0
        if isinstance(workspace, int):
            if workspace_bytes is None:
                raise ValueError("an int workspace address needs workspace_bytes")
            return workspace or None, int(workspace_bytes)
        v = _view(workspace, "workspace")
        if v.on_gpu != self.on_gpu:
            raise TypeError("workspace is on the wrong device for this plan")
        nbytes = _numel(v.shape) * _ITEMSIZE.get(v.dtype, 1)
        if v.dtype not in _ITEMSIZE:
            nbytes = int(getattr(v.obj, "nbytes", nbytes))
        if workspace_bytes is not None and int(workspace_bytes) > nbytes:
            raise ValueError(f"workspace_bytes = {workspace_bytes} exceeds the workspace's {nbytes} bytes")
        return v.ptr, int(workspace_bytes if workspace_bytes is not None else nbytes)

    def conv_forward(self, x, y, w, rows, cols, z=None, z_rows=None, sender_perm=None,
                     workspace=None, workspace_bytes=None, stream=None):
        """z[rows[e]] += TP(x[cols[e]], y[e], w[e]); z is overwritten. z_rows defaults to
        z.shape[0] when z is given, else to x.shape[0]. workspace=None lets the library
        allocate it (stream-ordered)."""
        self._kind(True)
        st = self._stream(stream)
        vx, vy, vw, vr, vc, vp, x_rows, edges = self._graph(x, y, w, rows, cols, sender_perm, z_rows)
        if z_rows is None:
            z_rows = _view(z, "z").shape[0] if z is not None else x_rows
        z = self._out(z, vx, "z", (z_rows, self.z_dim), self.irrep_dtype)
        vz = self._arr(z, "z", self.irrep_dtype, (z_rows, self.z_dim), output=True)
        wp, wb = self._workspace(workspace, workspace_bytes)
        _check(_lib.oeq_conv_forward(self.handle, x_rows, z_rows, edges, vx.ptr, vy.ptr, vw.ptr, vr.ptr,
                                     vc.ptr, vp.ptr if vp else None, vz.ptr, wp, wb, st), "conv_forward")
        return z

    def conv_backward(self, x, y, w, dz, rows, cols, dx=None, dy=None, dw=None, sender_perm=None,
                      workspace=None, workspace_bytes=None, stream=None):
        """Gradients of <dz, conv(x, y, w)>: returns (dx, dy, dw); dx has x's rows (ghosts included)."""
        self._kind(True)
        st = self._stream(stream)
        vdz0 = _view(dz, "dz")
        if len(vdz0.shape) != 2:
            raise ValueError(f"dz must be 2-D (z_rows, {self.z_dim}), not {vdz0.shape}")
        z_rows = vdz0.shape[0]
        vx, vy, vw, vr, vc, vp, x_rows, edges = self._graph(x, y, w, rows, cols, sender_perm, z_rows)
        vdz = self._arr(dz, "dz", self.irrep_dtype, (z_rows, self.z_dim))
        dw_shape = (self.weight_numel,) if self.shared_weights else (edges, self.weight_numel)
        dx = self._out(dx, vx, "dx", (x_rows, self.x_dim), self.irrep_dtype)
        dy = self._out(dy, vx, "dy", (edges, self.y_dim), self.irrep_dtype)
        dw = self._out(dw, vx, "dw", dw_shape, self.weight_dtype)
        vdx = self._arr(dx, "dx", self.irrep_dtype, (x_rows, self.x_dim), output=True)
        vdy = self._arr(dy, "dy", self.irrep_dtype, (edges, self.y_dim), output=True)
        vdw = self._w(dw, "dw", edges, output=True)
        wp, wb = self._workspace(workspace, workspace_bytes)
        _check(_lib.oeq_conv_backward(self.handle, x_rows, z_rows, edges, vx.ptr, vy.ptr, vw.ptr, vdz.ptr,
                                      vr.ptr, vc.ptr, vp.ptr if vp else None, vdx.ptr, vdy.ptr, vdw.ptr,
                                      wp, wb, st), "conv_backward")
        return dx, dy, dw


# Module-level spellings of the C API's functions, for scripts.
def tp_forward(plan, *args, **kw):
    return plan.tp_forward(*args, **kw)


def tp_backward(plan, *args, **kw):
    return plan.tp_backward(*args, **kw)


def conv_forward(plan, *args, **kw):
    return plan.conv_forward(*args, **kw)


def conv_backward(plan, *args, **kw):
    return plan.conv_backward(*args, **kw)


def conv_workspace_size(plan, x_rows, z_rows, edges):
    return plan.conv_workspace_size(x_rows, z_rows, edges)
