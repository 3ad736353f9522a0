"""oeq_torch: PyTorch custom operators over liboeq's C ABI (torch >= 2.4).

Importing oeq never needs torch; this module does. It registers, under the
"oeq" namespace, torch.library custom ops for the tensor product and the
fused convolution:

    oeq::tp_forward, oeq::tp_backward, oeq::tp_double_backward
    oeq::conv_forward, oeq::conv_backward, oeq::conv_double_backward

each calling the C library on the tensors' data pointers and, for CUDA
tensors, on torch.cuda.current_stream() (workspaces are allocated by the
library, stream-ordered). Autograd is registered to second order: the
forward's backward is the backward op, the backward's backward is the
double-backward op (so forces can be trained on); fake (meta)
implementations let torch.compile(fullgraph=True) trace them without graph
breaks. A third derivative raises.

The modules are drop-in for e3nn's o3.TensorProduct with
internal_weights=False (irreps as o3.Irreps or strings, e3nn-style
instructions, the normalization options, in1_var / in2_var / out_var):

    tp = oeq_torch.TensorProduct("8x0e+8x1o", "0e+1o", "8x0e+8x1o", instructions,
                                 shared_weights=False)
    z = tp(x, y, w)
    conv = oeq_torch.TensorProductConv(..., deterministic=True)
    z = conv(x, y, w, rows, cols)        # z[rows[e]] += TP(x[cols[e]], y[e], w[e])

Plans are made lazily, once per (device, dtype), and cached on the module.
The ops refer to a module's problem by an integer key (a registry in this
file): keys are constants to torch.compile.
"""
import itertools
import os
import sys
import threading
from typing import Optional, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oeq  # noqa: E402

if not hasattr(torch.library, "custom_op"):
    raise ImportError(f"oeq_torch needs torch >= 2.4 (torch.library.custom_op); this is {torch.__version__}")

# ------------------------------------------------------------ the registry


class _Spec:
    """A problem definition and its plans, one per (device, dtype)."""

    def __init__(self, build, conv, flags):
        self.build = build  # () -> oeq.Problem (dtype not set)
        self.conv = conv
        self.flags = flags
        p = build()
        self.x_dim, self.y_dim, self.z_dim = p.dims
        self.weight_numel = p.weight_numel
        self.shared = p.shared_weights
        p.close()
        self.plans = {}
        self.lock = threading.Lock()

    def plan(self, device, dtype):
        key = (device.type, device.index, dtype)
        plan = self.plans.get(key)
        if plan is not None:
            return plan
        with self.lock:
            if key not in self.plans:
                p = self.build()
                p.set_dtypes("float64" if dtype == torch.float64 else "float32")
                if device.type == "cuda":
                    backend, ordinal = oeq.Backend.CUDA, device.index if device.index is not None else 0
                    if torch.version.hip:
                        backend = oeq.Backend.HIP
                elif device.type == "cpu":
                    backend, ordinal = oeq.Backend.CPU, 0
                else:
                    raise ValueError(f"oeq: tensors on {device} are not supported (cpu or cuda)")
                if self.conv:
                    self.plans[key] = oeq.Plan.conv(p, backend, ordinal, self.flags)
                else:
                    self.plans[key] = oeq.Plan.tp(p, backend, ordinal)
                p.close()
            return self.plans[key]


_SPECS = {}
_NEXT = itertools.count(1)


def _register(spec):
    key = next(_NEXT)
    _SPECS[key] = spec
    return key


def _spec(key):
    try:
        return _SPECS[key]
    except KeyError:
        raise ValueError(f"oeq: no problem registered under key {key}") from None


# ------------------------------------------------------------ C calls

_lib = oeq._lib


def _ptr(t):
    return None if t is None else t.data_ptr()


def _stream(t):
    return torch.cuda.current_stream(t.device).cuda_stream if t.device.type == "cuda" else None


def _check(status, where):
    oeq._check(status, where)


def _c(t):
    return None if t is None else t.contiguous()


def _check_index(t, name):
    if t is not None and t.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"oeq: {name} must be int32 or int64, not {t.dtype}")


# ------------------------------------------------------------ tensor product ops


@torch.library.custom_op("oeq::tp_forward", mutates_args=())
def tp_forward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, key: int) -> torch.Tensor:
    s = _spec(key)
    x, y, w = _c(x), _c(y), _c(w)
    plan = s.plan(x.device, x.dtype)
    z = x.new_empty((x.shape[0], s.z_dim))
    _check(_lib.oeq_tp_forward(plan.handle, x.shape[0], _ptr(x), _ptr(y), _ptr(w), _ptr(z), _stream(x)),
           "tp_forward")
    return z


@tp_forward.register_fake
def _(x, y, w, key):
    return x.new_empty((x.shape[0], _spec(key).z_dim))


@torch.library.custom_op("oeq::tp_backward", mutates_args=())
def tp_backward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dz: torch.Tensor,
                key: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = _spec(key)
    x, y, w, dz = _c(x), _c(y), _c(w), _c(dz)
    plan = s.plan(x.device, x.dtype)
    dx, dy, dw = torch.empty_like(x), torch.empty_like(y), torch.empty_like(w)
    _check(_lib.oeq_tp_backward(plan.handle, x.shape[0], _ptr(x), _ptr(y), _ptr(w), _ptr(dz), _ptr(dx),
                                _ptr(dy), _ptr(dw), _stream(x)), "tp_backward")
    return dx, dy, dw


@tp_backward.register_fake
def _(x, y, w, dz, key):
    return torch.empty_like(x), torch.empty_like(y), torch.empty_like(w)


@torch.library.custom_op("oeq::tp_double_backward", mutates_args=())
def tp_double_backward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dz: torch.Tensor,
                       ddx: Optional[torch.Tensor], ddy: Optional[torch.Tensor], ddw: Optional[torch.Tensor],
                       key: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    s = _spec(key)
    x, y, w, dz, ddx, ddy, ddw = (_c(t) for t in (x, y, w, dz, ddx, ddy, ddw))
    plan = s.plan(x.device, x.dtype)
    gx, gy, gw, gdz = torch.empty_like(x), torch.empty_like(y), torch.empty_like(w), torch.empty_like(dz)
    _check(_lib.oeq_tp_double_backward(plan.handle, x.shape[0], _ptr(x), _ptr(y), _ptr(w), _ptr(dz),
                                       _ptr(ddx), _ptr(ddy), _ptr(ddw), _ptr(gx), _ptr(gy), _ptr(gw),
                                       _ptr(gdz), None, 0, _stream(x)), "tp_double_backward")
    return gx, gy, gw, gdz


@tp_double_backward.register_fake
def _(x, y, w, dz, ddx, ddy, ddw, key):
    return torch.empty_like(x), torch.empty_like(y), torch.empty_like(w), torch.empty_like(dz)


def _tp_fwd_setup(ctx, inputs, output):
    x, y, w, key = inputs
    ctx.save_for_backward(x, y, w)
    ctx.key = key


def _tp_fwd_grad(ctx, dz):
    x, y, w = ctx.saved_tensors
    dx, dy, dw = tp_backward(x, y, w, dz, ctx.key)
    return dx, dy, dw, None


tp_forward.register_autograd(_tp_fwd_grad, setup_context=_tp_fwd_setup)


def _tp_bwd_setup(ctx, inputs, output):
    x, y, w, dz, key = inputs
    ctx.save_for_backward(x, y, w, dz)
    ctx.key = key


def _tp_bwd_grad(ctx, ddx, ddy, ddw):
    x, y, w, dz = ctx.saved_tensors
    gx, gy, gw, gdz = tp_double_backward(x, y, w, dz, ddx, ddy, ddw, ctx.key)
    return gx, gy, gw, gdz, None


tp_backward.register_autograd(_tp_bwd_grad, setup_context=_tp_bwd_setup)


def _third_order(ctx, *grads):
    raise NotImplementedError("oeq: derivatives beyond the second (double backward) are not implemented")


tp_double_backward.register_autograd(_third_order, setup_context=lambda ctx, inputs, output: None)

# ------------------------------------------------------------ convolution ops


@torch.library.custom_op("oeq::conv_forward", mutates_args=())
def conv_forward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, rows: torch.Tensor,
                 cols: torch.Tensor, sender_perm: Optional[torch.Tensor], z_rows: int,
                 key: int) -> torch.Tensor:
    s = _spec(key)
    x, y, w, rows, cols, sender_perm = (_c(t) for t in (x, y, w, rows, cols, sender_perm))
    plan = s.plan(x.device, x.dtype)
    z = x.new_empty((z_rows, s.z_dim))
    _check(_lib.oeq_conv_forward(plan.handle, x.shape[0], z_rows, y.shape[0], _ptr(x), _ptr(y), _ptr(w),
                                 _ptr(rows), _ptr(cols), _ptr(sender_perm), _ptr(z), None, 0, _stream(x)),
           "conv_forward")
    return z


@conv_forward.register_fake
def _(x, y, w, rows, cols, sender_perm, z_rows, key):
    return x.new_empty((z_rows, _spec(key).z_dim))


@torch.library.custom_op("oeq::conv_backward", mutates_args=())
def conv_backward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dz: torch.Tensor, rows: torch.Tensor,
                  cols: torch.Tensor, sender_perm: Optional[torch.Tensor],
                  key: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    s = _spec(key)
    x, y, w, dz, rows, cols, sender_perm = (_c(t) for t in (x, y, w, dz, rows, cols, sender_perm))
    plan = s.plan(x.device, x.dtype)
    dx, dy, dw = torch.empty_like(x), torch.empty_like(y), torch.empty_like(w)
    _check(_lib.oeq_conv_backward(plan.handle, x.shape[0], dz.shape[0], y.shape[0], _ptr(x), _ptr(y),
                                  _ptr(w), _ptr(dz), _ptr(rows), _ptr(cols), _ptr(sender_perm), _ptr(dx),
                                  _ptr(dy), _ptr(dw), None, 0, _stream(x)), "conv_backward")
    return dx, dy, dw


@conv_backward.register_fake
def _(x, y, w, dz, rows, cols, sender_perm, key):
    return torch.empty_like(x), torch.empty_like(y), torch.empty_like(w)


@torch.library.custom_op("oeq::conv_double_backward", mutates_args=())
def conv_double_backward(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dz: torch.Tensor,
                         ddx: Optional[torch.Tensor], ddy: Optional[torch.Tensor], ddw: Optional[torch.Tensor],
                         rows: torch.Tensor, cols: torch.Tensor, sender_perm: Optional[torch.Tensor],
                         key: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    s = _spec(key)
    x, y, w, dz, ddx, ddy, ddw, rows, cols, sender_perm = (
        _c(t) for t in (x, y, w, dz, ddx, ddy, ddw, rows, cols, sender_perm))
    plan = s.plan(x.device, x.dtype)
    gx, gy, gw, gdz = torch.empty_like(x), torch.empty_like(y), torch.empty_like(w), torch.empty_like(dz)
    _check(_lib.oeq_conv_double_backward(plan.handle, x.shape[0], dz.shape[0], y.shape[0], _ptr(x), _ptr(y),
                                         _ptr(w), _ptr(dz), _ptr(ddx), _ptr(ddy), _ptr(ddw), _ptr(rows),
                                         _ptr(cols), _ptr(sender_perm), _ptr(gx), _ptr(gy), _ptr(gw),
                                         _ptr(gdz), None, 0, _stream(x)), "conv_double_backward")
    return gx, gy, gw, gdz


@conv_double_backward.register_fake
def _(x, y, w, dz, ddx, ddy, ddw, rows, cols, sender_perm, key):
    return torch.empty_like(x), torch.empty_like(y), torch.empty_like(w), torch.empty_like(dz)


def _conv_fwd_setup(ctx, inputs, output):
    x, y, w, rows, cols, perm, z_rows, key = inputs
    ctx.save_for_backward(x, y, w, rows, cols, perm)
    ctx.key = key


def _conv_fwd_grad(ctx, dz):
    x, y, w, rows, cols, perm = ctx.saved_tensors
    dx, dy, dw = conv_backward(x, y, w, dz, rows, cols, perm, ctx.key)
    return dx, dy, dw, None, None, None, None, None


conv_forward.register_autograd(_conv_fwd_grad, setup_context=_conv_fwd_setup)


def _conv_bwd_setup(ctx, inputs, output):
    x, y, w, dz, rows, cols, perm, key = inputs
    ctx.save_for_backward(x, y, w, dz, rows, cols, perm)
    ctx.key = key


def _conv_bwd_grad(ctx, ddx, ddy, ddw):
    x, y, w, dz, rows, cols, perm = ctx.saved_tensors
    gx, gy, gw, gdz = conv_double_backward(x, y, w, dz, ddx, ddy, ddw, rows, cols, perm, ctx.key)
    return gx, gy, gw, gdz, None, None, None, None


conv_backward.register_autograd(_conv_bwd_grad, setup_context=_conv_bwd_setup)
conv_double_backward.register_autograd(_third_order, setup_context=lambda ctx, inputs, output: None)

# ------------------------------------------------------------ modules


def _irreps_str(irreps):
    """o3.Irreps (or anything whose str() is an irreps string) or a string."""
    return irreps if isinstance(irreps, str) else str(irreps)


def _problem_builder(irreps_in1, irreps_in2, irreps_out, instructions, in1_var, in2_var, out_var,
                     irrep_normalization, path_normalization, shared_weights, layout):
    in1, in2, out = _irreps_str(irreps_in1), _irreps_str(irreps_in2), _irreps_str(irreps_out)
    ins = [tuple(i) for i in instructions]

    def build():
        p = oeq.Problem(in1, in2, out, ins)
        p.set_normalization(irrep_normalization, path_normalization)
        p.set_shared_weights(shared_weights)
        if layout is not None:
            p.set_layout(layout)
        if in1_var is not None or in2_var is not None or out_var is not None:
            p.set_variances(in1_var, in2_var, out_var)
        return p

    return build


class TensorProduct(torch.nn.Module):
    """e3nn's o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions,
    internal_weights=False, shared_weights=...) on oeq's kernels: forward(x, y, weight).

    x: (..., irreps_in1.dim), y: (..., irreps_in2.dim), weight: (weight_numel,) when shared,
    else (..., weight_numel). Differentiable twice (forces)."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                 out_var=None, irrep_normalization="component", path_normalization="element",
                 internal_weights=False, shared_weights=None, layout=None):
        super().__init__()
        if internal_weights:
            raise ValueError("oeq_torch.TensorProduct: internal_weights=True is not supported; "
                             "pass the weights to forward()")
        shared = True if shared_weights is None else bool(shared_weights)
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        self.instructions = [tuple(i) for i in instructions]
        self.shared_weights = shared
        self.internal_weights = False
        self._spec = _Spec(_problem_builder(irreps_in1, irreps_in2, irreps_out, instructions, in1_var,
                                            in2_var, out_var, irrep_normalization, path_normalization,
                                            shared, layout), conv=False, flags=0)
        self._key = _register(self._spec)
        self.weight_numel = self._spec.weight_numel

    def forward(self, x, y, weight):
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self._spec.x_dim)
        y2 = y.reshape(-1, self._spec.y_dim)
        w2 = weight.reshape(-1) if self.shared_weights else weight.reshape(-1, self.weight_numel)
        z = tp_forward(x2, y2, w2, self._key)
        return z.reshape(*lead, self._spec.z_dim)

    def extra_repr(self):
        return f"{self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out}, weight_numel={self.weight_numel}"


class TensorProductConv(torch.nn.Module):
    """The fused graph convolution z[rows[e]] += TP(x[cols[e]], y[e], w[e]) of a TensorProduct
    definition (same arguments, plus deterministic: sorted receivers and a sender permutation,
    no atomics, bitwise reproducible). forward(x, y, weight, rows, cols, z_rows=None,
    sender_perm=None); z_rows defaults to x's rows. Differentiable twice."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, instructions, in1_var=None, in2_var=None,
                 out_var=None, irrep_normalization="component", path_normalization="element",
                 internal_weights=False, shared_weights=False, layout=None, deterministic=False):
        super().__init__()
        if internal_weights:
            raise ValueError("oeq_torch.TensorProductConv: internal_weights=True is not supported")
        self.irreps_in1, self.irreps_in2, self.irreps_out = irreps_in1, irreps_in2, irreps_out
        self.shared_weights = bool(shared_weights)
        self.deterministic = bool(deterministic)
        self._spec = _Spec(_problem_builder(irreps_in1, irreps_in2, irreps_out, instructions, in1_var,
                                            in2_var, out_var, irrep_normalization, path_normalization,
                                            self.shared_weights, layout), conv=True,
                           flags=oeq.CONV_DETERMINISTIC if deterministic else 0)
        self._key = _register(self._spec)
        self.weight_numel = self._spec.weight_numel

    def forward(self, x, y, weight, rows, cols, z_rows=None, sender_perm=None):
        _check_index(rows, "rows")
        _check_index(cols, "cols")
        if rows.dtype != torch.int32 or cols.dtype != torch.int32:
            rows, cols = rows.to(torch.int32), cols.to(torch.int32)
        if self.deterministic:
            if sender_perm is None:
                sender_perm = torch.argsort(cols, stable=True)
            sender_perm = sender_perm.to(torch.int32)
        else:
            sender_perm = None
        w = weight.reshape(-1) if self.shared_weights else weight
        return conv_forward(x, y, w, rows, cols, sender_perm, x.shape[0] if z_rows is None else int(z_rows),
                            self._key)
