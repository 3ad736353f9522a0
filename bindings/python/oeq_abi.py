"""oeq_abi.py: GENERATED from include/oeq.h by bindings/genabi.py. Do not edit;
run `python3 bindings/genabi.py` instead.

The raw C ABI for oeq.py: the enums as IntEnum classes (members without
their shared prefix: OEQ_MODE_UVW is Mode.UVW), the numeric macros without
OEQ_, the opaque handle types, and PROTOTYPES (name -> (restype, argtypes),
in header order), which bind(lib) applies to a ctypes.CDLL.
"""
import ctypes
import enum

ABI_VERSION = 1


class Status(enum.IntEnum):
    """oeq_status_t"""
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
    """oeq_mode_t"""
    UVW = 0
    UVU = 1
    UVV = 2
    UUW = 3
    UUU = 4
    UVUV = 5


class DType(enum.IntEnum):
    """oeq_dtype_t"""
    FLOAT32 = 0
    FLOAT64 = 1


class Backend(enum.IntEnum):
    """oeq_backend_t"""
    AUTO = 0
    CPU = 1
    CUDA = 2
    HIP = 3


class IrrepNorm(enum.IntEnum):
    """oeq_irrep_norm_t"""
    COMPONENT = 0
    NORM = 1
    NONE = 2


class PathNorm(enum.IntEnum):
    """oeq_path_norm_t"""
    ELEMENT = 0
    PATH = 1
    NONE = 2


class Layout(enum.IntEnum):
    """oeq_layout_t"""
    MUL_IR = 0
    IR_MUL = 1


# flags
CONV_DETERMINISTIC = 1
CONV_KAHAN = 2
INDEX_INT64 = 4


class oeq_problem_t(ctypes.Structure):
    """struct oeq_problem (opaque): handles are ctypes.POINTER(oeq_problem_t)."""


class oeq_plan_t(ctypes.Structure):
    """struct oeq_plan (opaque): handles are ctypes.POINTER(oeq_plan_t)."""


PROTOTYPES = {
    "oeq_abi_version": (ctypes.c_int, []),
    "oeq_version": (ctypes.c_char_p, []),
    "oeq_status_string": (ctypes.c_char_p, [ctypes.c_int]),
    "oeq_last_error": (ctypes.c_char_p, []),
    "oeq_backend_available": (ctypes.c_int, [ctypes.c_int]),
    "oeq_problem_create": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                          ctypes.POINTER(ctypes.POINTER(oeq_problem_t))]),
    "oeq_problem_add_instruction": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int,
                                                   ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                                   ctypes.c_int, ctypes.c_double]),
    "oeq_problem_set_dtypes": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int,
                                              ctypes.c_int]),
    "oeq_problem_set_shared_weights": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int]),
    "oeq_problem_set_normalization": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int,
                                                     ctypes.c_int]),
    "oeq_problem_set_layout": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int]),
    "oeq_problem_set_variances": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                                 ctypes.POINTER(ctypes.c_double),
                                                 ctypes.POINTER(ctypes.c_double),
                                                 ctypes.POINTER(ctypes.c_double)]),
    "oeq_problem_weight_numel": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                                ctypes.POINTER(ctypes.c_int64)]),
    "oeq_problem_dims": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                        ctypes.POINTER(ctypes.c_int64),
                                        ctypes.POINTER(ctypes.c_int64),
                                        ctypes.POINTER(ctypes.c_int64)]),
    "oeq_problem_dtypes": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                          ctypes.POINTER(ctypes.c_int),
                                          ctypes.POINTER(ctypes.c_int)]),
    "oeq_problem_shared_weights": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                                  ctypes.POINTER(ctypes.c_int)]),
    "oeq_problem_irreps_count": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
                                                ctypes.POINTER(ctypes.c_int64),
                                                ctypes.POINTER(ctypes.c_int64),
                                                ctypes.POINTER(ctypes.c_int64)]),
    "oeq_problem_describe": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_char_p,
                                            ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "oeq_problem_destroy": (None, [ctypes.POINTER(oeq_problem_t)]),
    "oeq_problem_create_fully_connected": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p,
                                                          ctypes.c_char_p,
        ctypes.POINTER(ctypes.POINTER(oeq_problem_t))]),
    "oeq_problem_create_channelwise": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p,
                                                      ctypes.c_char_p,
        ctypes.POINTER(ctypes.POINTER(oeq_problem_t))]),
    "oeq_plan_create_tp": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int, ctypes.c_int,
                                          ctypes.POINTER(ctypes.POINTER(oeq_plan_t))]),
    "oeq_plan_create_conv": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t), ctypes.c_int,
                                            ctypes.c_int, ctypes.c_uint32,
                                            ctypes.POINTER(ctypes.POINTER(oeq_plan_t))]),
    "oeq_plan_backend": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.POINTER(ctypes.c_int)]),
    "oeq_plan_destroy": (None, [ctypes.POINTER(oeq_plan_t)]),
    "oeq_tp_forward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64, ctypes.c_void_p,
                                      ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                      ctypes.c_void_p]),
    "oeq_tp_backward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                       ctypes.c_void_p]),
    "oeq_conv_workspace_size": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64,
                                               ctypes.c_int64, ctypes.c_int64,
                                               ctypes.POINTER(ctypes.c_size_t)]),
    "oeq_conv_forward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_size_t, ctypes.c_void_p]),
    "oeq_conv_backward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_size_t, ctypes.c_void_p]),
    "oeq_tp_double_backward_workspace_size": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t),
        ctypes.c_int64, ctypes.POINTER(ctypes.c_size_t)]),
    "oeq_tp_double_backward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64,
                                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                              ctypes.c_size_t, ctypes.c_void_p]),
    "oeq_conv_double_backward_workspace_size": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t),
        ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.POINTER(ctypes.c_size_t)]),
    "oeq_conv_double_backward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64,
                                                ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                                ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                                ctypes.c_void_p]),
    "oeq_problem_create_symmetric_contraction": (ctypes.c_int, [ctypes.c_char_p, ctypes.c_char_p,
        ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
        ctypes.POINTER(ctypes.POINTER(oeq_problem_t))]),
    "oeq_plan_create_symmetric_contraction": (ctypes.c_int, [ctypes.POINTER(oeq_problem_t),
        ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(oeq_plan_t))]),
    "oeq_symcon_forward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64,
                                          ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]),
    "oeq_symcon_backward": (ctypes.c_int, [ctypes.POINTER(oeq_plan_t), ctypes.c_int64,
                                           ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32),
                                           ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_void_p, ctypes.c_void_p]),
}


def bind(lib):
    """Sets restype and argtypes of every function of oeq.h on lib (a CDLL)."""
    for name, (res, args) in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


__all__ = ["ABI_VERSION", "Status", "Mode", "DType", "Backend", "IrrepNorm", "PathNorm", "Layout",
           "CONV_DETERMINISTIC", "CONV_KAHAN", "INDEX_INT64", "oeq_problem_t", "oeq_plan_t",
           "PROTOTYPES", "bind"]
