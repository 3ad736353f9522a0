#!/usr/bin/env python3
"""genabi.py: every language binding's raw layer, generated from include/oeq.h.

Regenerate after any change to include/oeq.h (or fortran/oeq_real.inc.tpl):

    python3 bindings/genabi.py

The header is parsed once (enums, numeric macros, opaque handle typedefs and
every OEQ_API prototype) and these files are written; all are committed, and
bindings/test_genabi.sh (make check) regenerates them into a temporary
directory and fails on any difference:

  fortran/oeq_c.f90          module oeq_c: enum values and flags as parameters,
                             one bind(C) interface per function (FFTW's genf03)
  fortran/oeq_real.inc       module oeq's typed array overloads, one copy of
                             fortran/oeq_real.inc.tpl per oeq_dtype_t value
                             that has a Fortran real kind (f32, f64)
  julia/src/abi.jl           OEQ.jl's constants, handle types and one thin
                             ccall wrapper per function, exact C signature
  bindings/python/oeq_abi.py oeq.py's enums (IntEnum), macros, handle types and
                             ctypes prototypes (bind(lib) applies them)

A new function, enum or numeric macro in oeq.h is picked up by rerunning the
command; a C type none of the tables below knows stops the generator with
its name (add it to the tables; never hand-edit the outputs).

Usage: genabi.py [--header FILE] [--outdir DIR]
  --header  the header to read (default: include/oeq.h of this tree)
  --outdir  write the files under DIR (same relative paths) instead of the tree

Fortran type table (style.md):
  handle (oeq_problem_t *, oeq_plan_t *)   -> type(c_ptr), value
  oeq_problem_t ** / oeq_plan_t ** (out)   -> type(c_ptr), intent(out)
  int / enum                               -> integer(c_int), value
  int64_t / size_t / uint32_t / double     -> integer(c_int64_t) / integer(c_size_t)
                                              / integer(c_int32_t) / real(c_double), value
  scalar T * (out-pointer)                 -> the same kind by reference, intent(out)
  const char *                             -> character(kind=c_char), dimension(*)
                                              (the friendly layer appends the NUL)
  any other pointer (arrays, char *buf,    -> type(c_ptr), value (NULL-able: c_null_ptr)
  const double *, void *, stream)
  returned const char *                    -> type(c_ptr) (see c_f_pointer)
Enum values become integer(c_int) parameters; flags (uint32_t) become
integer(c_int32_t) parameters. A macro whose name clashes (Fortran is case
blind) with a function gets the suffix _HEADER: OEQ_ABI_VERSION_HEADER.

Julia: handles are Ptr{oeq_problem_s} / Ptr{oeq_plan_s} (never Ptr{Cvoid}),
out-pointers Ref{T}, `const char *` Cstring, other pointers Ptr{T} with T the
pointee (Ptr{Cvoid} for void *: Arrays convert to it; CUDA.jl's CuArrays do
not, so julia/ext keeps its own CuPtr ccalls, checked by check_ccalls.py).
"""
import argparse
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
HEADER = "include/oeq.h"
REGEN = "python3 bindings/genabi.py"
OUT_FORTRAN = "fortran/oeq_c.f90"
OUT_FORTRAN_REAL = "fortran/oeq_real.inc"
TPL_FORTRAN_REAL = "fortran/oeq_real.inc.tpl"
OUT_JULIA = "julia/src/abi.jl"
OUT_PYTHON = "bindings/python/oeq_abi.py"
OUTPUTS = (OUT_FORTRAN, OUT_FORTRAN_REAL, OUT_JULIA, OUT_PYTHON)

# ------------------------------------------------------------------ parsing


def fail(msg):
    raise SystemExit(f"genabi: {msg}")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def parse_header(text):
    """Returns (enums, macros, functions, handles) in header order.

    enums: [(type name, [(NAME, value)])]; macros: [(NAME, value, "flag"|"int")];
    functions: [(return type, name, [(type, arg name)])];
    handles: [(typedef name, struct tag)] of `typedef struct tag name;`."""
    code = strip_comments(text)
    enums = []
    for body, name in re.findall(r"typedef\s+enum\s*\{(.*?)\}\s*(\w+)\s*;", code, flags=re.S):
        values, nxt = [], 0
        for item in body.split(","):
            item = item.strip()
            if not item:
                continue
            m = re.fullmatch(r"(\w+)\s*(?:=\s*(-?\d+))?", item)
            if not m:
                fail(f"cannot read enum item {item!r} of {name}")
            val = int(m.group(2)) if m.group(2) is not None else nxt
            values.append((m.group(1), val))
            nxt = val + 1
        enums.append((name, values))
    macros = []
    define = r"^[ \t]*#[ \t]*define[ \t]+(OEQ_\w+)[ \t]+(.+?)[ \t]*$"
    for name, expr in re.findall(define, code, flags=re.M):
        expr = expr.strip()
        m = re.fullmatch(r"\(?\s*(\d+)u?\s*<<\s*(\d+)\s*\)?", expr)
        if m:
            macros.append((name, int(m.group(1)) << int(m.group(2)), "flag"))
        elif re.fullmatch(r"\d+", expr):
            macros.append((name, int(expr), "int"))
    handles = re.findall(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", code)
    handles = [(name, tag) for tag, name in handles]
    functions = []
    flat = " ".join(code.split())
    prototype = r"OEQ_API\s+([\w\s\*]+?)\s*\b(oeq_\w+)\s*\(([^)]*)\)\s*;"
    for ret, name, args in re.findall(prototype, flat):
        arglist = []
        if args.strip() != "void":
            for a in args.split(","):
                m = re.fullmatch(r"\s*(.*?[\s\*])(\w+)\s*", a)
                if not m:
                    fail(f"cannot read argument {a!r} of {name}")
                arglist.append((" ".join(m.group(1).replace("*", " * ").split()), m.group(2)))
        functions.append((" ".join(ret.replace("*", " * ").split()), name, arglist))
    declared = len(re.findall(r"^\s*OEQ_API\b", code, flags=re.M))
    if declared != len(functions):
        fail(f"read {len(functions)} of {declared} OEQ_API declarations "
             "(one prototype per statement)")
    return enums, macros, functions, handles


def split_type(ctype):
    """(base type, number of '*', const?) of a normalized C type."""
    base = ctype.replace("*", " ").replace("const", " ").split()
    if len(base) != 1:
        fail(f"unsupported type {ctype!r}")
    return base[0], ctype.count("*"), ctype.startswith("const")


def c_prototype(ret, name, args):
    """The prototype as C text, for comments ("oeq_status_t f(const char *s)")."""
    def decl(t, n):
        stars = t.count("*")
        return f"{t.replace('*', '').strip()} {'*' * stars}{n}"
    return decl(ret, name) + "(" + (", ".join(decl(t, n) for t, n in args) or "void") + ")"


# ------------------------------------------------------------------ Fortran

F_SCALARS = {
    "int": "integer(c_int)",
    "int64_t": "integer(c_int64_t)",
    "int32_t": "integer(c_int32_t)",
    "uint32_t": "integer(c_int32_t)",
    "size_t": "integer(c_size_t)",
    "double": "real(c_double)",
    "float": "real(c_float)",
}
# oeq_dtype_t values with a Fortran real kind: (suffix of the procedures, kind).
F_REAL_KINDS = {"OEQ_FLOAT32": ("f32", "c_float"), "OEQ_FLOAT64": ("f64", "c_double")}
MAX_LINE = 100


def fortran_arg(ctype, enum_types, handles):
    """(declaration without the name) for one C argument type."""
    base, stars, is_const = split_type(ctype)
    if stars == 0:
        if base in enum_types:
            return "integer(c_int), value"
        if base in F_SCALARS:
            return F_SCALARS[base] + ", value"
        fail(f"unsupported value type {ctype!r}")
    if stars == 2 and base in handles:
        return "type(c_ptr), intent(out)"
    if stars == 1 and base == "char" and is_const:
        return "character(kind=c_char), dimension(*), intent(in)"
    if stars == 1 and not is_const and base in enum_types:
        return "integer(c_int), intent(out)"
    if stars == 1 and not is_const and base in F_SCALARS and base not in ("double", "float"):
        return F_SCALARS[base] + ", intent(out)"
    if stars == 1:
        return "type(c_ptr), value"
    fail(f"unsupported pointer type {ctype!r}")


def fortran_result(ctype, enum_types):
    if ctype == "void":
        return None
    if "*" in ctype:
        return "type(c_ptr)"
    if ctype in enum_types:
        return "integer(c_int)"
    if ctype in F_SCALARS:
        return F_SCALARS[ctype]
    fail(f"unsupported return type {ctype!r}")


def wrap(line, indent):
    """Split a long line with Fortran continuations at argument commas."""
    if len(line) <= MAX_LINE:
        return [line]
    out, cur = [], line
    while len(cur) > MAX_LINE:
        cut = cur.rfind(", ", 0, MAX_LINE - 2)
        if cut <= len(indent):
            fail(f"cannot wrap {line!r}")
        out.append(cur[: cut + 1] + " &")
        cur = indent + "    " + cur[cut + 2 :]
    out.append(cur)
    return out


def gen_fortran(parsed):
    enums, macros, functions, handles = parsed
    enum_types = {name for name, _ in enums}
    handle_types = {name for name, _ in handles}
    func_names = {name.lower() for _, name, _ in functions}
    o = [
        f"! oeq_c.f90: GENERATED from {HEADER} by bindings/genabi.py. Do not edit;",
        f"! run `{REGEN}` instead.",
        "!",
        "! The raw Fortran 2003 interface of liboeq: every enum value and flag as a",
        "! parameter and one bind(C) interface per function of oeq.h. Strings must be",
        "! NUL-terminated (trim(s)//c_null_char); arrays go as type(c_ptr) (c_loc,",
        "! c_devloc, or a device address); rows are C row-major. Module `oeq` is the",
        "! friendly layer on top of this one.",
        "module oeq_c",
        "  use, intrinsic :: iso_c_binding",
        "  implicit none",
        "  public",
        "",
    ]
    for name, values in enums:
        o.append(f"  ! {name}")
        for vname, val in values:
            o.append(f"  integer(c_int), parameter :: {vname} = {val}")
        o.append("")
    o.append("  ! macros of oeq.h")
    for name, val, kind in macros:
        fname = name + "_HEADER" if name.lower() in func_names else name
        if kind == "flag":
            o.append(f"  integer(c_int32_t), parameter :: {fname} = {val}_c_int32_t")
        else:
            o.append(f"  integer(c_int), parameter :: {fname} = {val}")
    o.append("")
    o.append("  interface")
    for ret, name, args in functions:
        names = ", ".join(a for _, a in args)
        res = fortran_result(ret, enum_types)
        ind = "    "
        if res is None:
            head = f"{ind}subroutine {name}({names}) bind(C, name=\"{name}\")"
        else:
            head = f"{ind}function {name}({names}) bind(C, name=\"{name}\") result(res)"
        o.extend(wrap(head, ind))
        o.append(f"{ind}  import")
        o.append(f"{ind}  implicit none")
        for ctype, aname in args:
            o.append(f"{ind}  {fortran_arg(ctype, enum_types, handle_types)} :: {aname}")
        if res is not None:
            o.append(f"{ind}  {res} :: res")
            o.append(f"{ind}end function {name}")
        else:
            o.append(f"{ind}end subroutine {name}")
    o.append("  end interface")
    o.append("end module oeq_c")
    return "\n".join(o) + "\n"


def gen_fortran_real(parsed, template):
    """The template once per oeq_dtype_t value with a Fortran real kind:
    @SFX@ -> f32, @KIND@ -> c_float, @DTYPE@ -> OEQ_FLOAT32, ..."""
    enums = dict(parsed[0])
    if "oeq_dtype_t" not in enums:
        fail("oeq.h has no oeq_dtype_t")
    body = template.split("\n")
    # The template's own leading comment block documents the template only.
    while body and body[0].startswith("!"):
        body.pop(0)
    body = "\n".join(body).strip("\n")
    o = [
        f"! oeq_real.inc: GENERATED from {TPL_FORTRAN_REAL} and {HEADER} by",
        f"! bindings/genabi.py. Do not edit; edit the template and run `{REGEN}`.",
        "! Included in module oeq (fortran/oeq.f90) after `contains`: the typed",
        "! host-array overloads, one copy per oeq_dtype_t value with a Fortran real kind.",
    ]
    skipped = [v for v, _ in enums["oeq_dtype_t"] if v not in F_REAL_KINDS]
    if skipped:
        o.append("! oeq_dtype_t values without a Fortran real kind (type(c_ptr) overloads only): "
                 + ", ".join(skipped))
    for vname, _ in enums["oeq_dtype_t"]:
        if vname not in F_REAL_KINDS:
            continue
        sfx, kind = F_REAL_KINDS[vname]
        text = body.replace("@SFX@", sfx).replace("@KIND@", kind).replace("@DTYPE@", vname)
        left = re.findall(r"@\w+@", text)
        if left:
            fail(f"{TPL_FORTRAN_REAL}: unknown placeholder(s) {sorted(set(left))}")
        o.append("")
        o.append(f"  ! ---------------------------------------- {vname}: real({kind})")
        o.append("")
        o.append(text)
    for line in "\n".join(o).split("\n"):
        if len(line) > 132:
            fail(f"{TPL_FORTRAN_REAL}: a line over 132 characters: {line!r}")
    return "\n".join(o) + "\n"


# -------------------------------------------------------------------- Julia

J_SCALARS = {
    "int": "Cint",
    "int64_t": "Int64",
    "int32_t": "Int32",
    "uint32_t": "UInt32",
    "size_t": "Csize_t",
    "double": "Cdouble",
    "float": "Cfloat",
    "char": "UInt8",
    "void": "Cvoid",
}
J_KEYWORDS = {"begin", "end", "function", "type", "module", "global", "local", "let", "do",
              "quote", "macro", "for", "while", "if", "else", "try", "catch", "finally",
              "return", "break", "continue", "const", "struct", "abstract", "primitive",
              "baremodule", "using", "import", "export", "in", "isa", "where", "mutable"}


def julia_handle(tag):
    return f"{tag}_s"


def julia_type(ctype, enum_types, handles, result=False):
    base, stars, is_const = split_type(ctype)
    if stars == 0:
        if base in enum_types:
            return "Cint"
        if base in J_SCALARS:
            return J_SCALARS[base]
        fail(f"no Julia type for {ctype!r}")
    if base in handles:
        h = julia_handle(handles[base])
        if stars == 1:
            return f"Ptr{{{h}}}"
        if stars == 2 and not is_const:
            return f"Ref{{Ptr{{{h}}}}}"
        fail(f"no Julia type for {ctype!r}")
    if stars != 1:
        fail(f"no Julia type for {ctype!r}")
    if base == "char" and (is_const or result):
        return "Cstring"
    inner = "Cint" if base in enum_types else J_SCALARS.get(base)
    if inner is None:
        fail(f"no Julia type for {ctype!r}")
    # A writable scalar is an out-pointer (Ref); arrays and buffers are Ptr.
    if not is_const and base not in ("void", "char", "double", "float"):
        return f"Ref{{{inner}}}"
    return f"Ptr{{{inner}}}"


def julia_name(n):
    return n + "_" if n in J_KEYWORDS else n


def gen_julia(parsed):
    enums, macros, functions, handles = parsed
    enum_types = {name for name, _ in enums}
    handle_tags = dict(handles)
    o = [
        f"# abi.jl: GENERATED from {HEADER} by bindings/genabi.py. Do not edit;",
        f"# run `{REGEN}` instead.",
        "#",
        "# The raw C ABI for module OEQ (included by OEQ.jl, which defines",
        "# `fptr(name)`, the function pointer looked up when liboeq is loaded):",
        "# every enum value and macro as a constant, the opaque handle types, and",
        "# one wrapper per function of oeq.h whose ccall has the header's exact",
        "# signature. Pointer arguments take what ccall converts (Arrays, Refs,",
        "# C_NULL); handles take Problem / Plan through their unsafe_convert.",
        "",
    ]
    for name, val, kind in macros:
        if kind == "int":
            o.append(f"const {name} = Cint({val})")
    o.append("")
    for name, values in enums:
        o.append(f"# {name}")
        for vname, val in values:
            o.append(f"const {vname} = Cint({val})")
    o.append("# flags")
    for name, val, kind in macros:
        if kind == "flag":
            o.append(f"const {name} = UInt32({val})")
    o.append("")
    o.append("# Opaque C structs: handles are Ptr{...} of these, never Ptr{Cvoid}.")
    for name, tag in handles:
        o.append(f"mutable struct {julia_handle(tag)} end  # {name}")
    o.append("")
    o.append("# Every function of oeq.h, in header order (looked up by __init__).")
    o.extend(pack("const ABI_FUNCTIONS = (", [f":{name}" for _, name, _ in functions], ")", 4))
    for ret, name, args in functions:
        jret = julia_type(ret, enum_types, handle_tags, result=True)
        jargs = [julia_type(t, enum_types, handle_tags) for t, _ in args]
        anames = [julia_name(n) for _, n in args]
        o.append("")
        o.append(f"# {c_prototype(ret, name, args)}")
        o.extend(pack(f"{name}(", anames, ") =", 0))
        call = f"    ccall(fptr(:{name}), {jret}, "
        # A one-type tuple needs its comma, (Cint,); width 99 leaves room for
        # the comma before the arguments.
        tail = ",)" if len(jargs) == 1 else ")"
        tlines = pack(call + "(", jargs, tail, 0, 99) if jargs else [call + "()"]
        o.extend(tlines[:-1])
        if anames:
            one = tlines[-1] + ", " + ", ".join(anames) + ")"
            if len(one) <= 100:
                o.append(one)
            else:
                o.append(tlines[-1] + ",")
                o.extend(pack(" " * 10, anames, ")", 10))
        else:
            o.append(tlines[-1] + ")")
    return "\n".join(o) + "\n"


def pack(head, items, tail, indent, width=100):
    """head + items joined by ", " + tail, in lines of at most `width` characters;
    continuation lines start under the first item (at `indent` where the
    head is long or an item does not fit there)."""
    col = len(head) if len(head) <= 60 else indent
    lines, cur = [], head
    for k, it in enumerate(items):
        piece = it + (", " if k + 1 < len(items) else tail)
        if len(cur) + len(piece.rstrip()) > width and (cur != head or len(head) > 60):
            lines.append(cur.rstrip())
            cur = " " * (col if col + len(piece.rstrip()) <= width else indent)
        cur += piece
    if not items:
        cur += tail
    lines.append(cur)
    return lines


# ------------------------------------------------------------------- Python

P_SCALARS = {
    "int": "ctypes.c_int",
    "int64_t": "ctypes.c_int64",
    "int32_t": "ctypes.c_int32",
    "uint32_t": "ctypes.c_uint32",
    "size_t": "ctypes.c_size_t",
    "double": "ctypes.c_double",
    "float": "ctypes.c_float",
}
# Python class names where the CamelCase of the C name reads badly.
P_ENUM_NAMES = {"oeq_dtype_t": "DType"}


def py_enum_class(cname):
    if cname in P_ENUM_NAMES:
        return P_ENUM_NAMES[cname]
    words = re.sub(r"^oeq_|_t$", "", cname).split("_")
    return "".join(w.capitalize() for w in words)


def py_members(values):
    """Member names: the value names without the words they all share (OEQ_MODE_UVW -> UVW)."""
    split = [v.split("_") for v, _ in values]
    common = 0
    while all(len(s) > common + 1 and s[common] == split[0][common] for s in split):
        common += 1
    out = []
    for s in split:
        m = "_".join(s[common:])
        out.append(m if m[0].isalpha() else "_".join(s[common - 1:]))
    return out


def py_type(ctype, enum_types, handles, result=False):
    base, stars, is_const = split_type(ctype)
    if stars == 0:
        if base == "void":
            return "None"
        if base in enum_types:
            return "ctypes.c_int"
        if base in P_SCALARS:
            return P_SCALARS[base]
        fail(f"no ctypes type for {ctype!r}")
    if base in handles:
        if stars == 1:
            return f"ctypes.POINTER({base})"
        if stars == 2 and not is_const:
            return f"ctypes.POINTER(ctypes.POINTER({base}))"
        fail(f"no ctypes type for {ctype!r}")
    if stars != 1:
        fail(f"no ctypes type for {ctype!r}")
    if base == "char":
        return "ctypes.c_char_p"
    if base == "void":
        return "ctypes.c_void_p"
    inner = "ctypes.c_int" if base in enum_types else P_SCALARS.get(base)
    if inner is None:
        fail(f"no ctypes type for {ctype!r}")
    return f"ctypes.POINTER({inner})"


def gen_python(parsed):
    enums, macros, functions, handles = parsed
    enum_types = {name for name, _ in enums}
    handle_types = {name for name, _ in handles}
    public = []
    o = [
        f'"""oeq_abi.py: GENERATED from {HEADER} by bindings/genabi.py. Do not edit;',
        f"run `{REGEN}` instead.",
        "",
        "The raw C ABI for oeq.py: the enums as IntEnum classes (members without",
        "their shared prefix: OEQ_MODE_UVW is Mode.UVW), the numeric macros without",
        "OEQ_, the opaque handle types, and PROTOTYPES (name -> (restype, argtypes),",
        "in header order), which bind(lib) applies to a ctypes.CDLL.",
        '"""',
        "import ctypes",
        "import enum",
        "",
    ]
    for name, val, kind in macros:
        if kind == "int":
            o.append(f"{name[4:]} = {val}")
            public.append(name[4:])
    for name, values in enums:
        cls = py_enum_class(name)
        public.append(cls)
        o.append("")
        o.append("")
        o.append(f"class {cls}(enum.IntEnum):")
        o.append(f'    """{name}"""')
        for member, (_, val) in zip(py_members(values), values):
            o.append(f"    {member} = {val}")
    o.append("")
    o.append("")
    o.append("# flags")
    for name, val, kind in macros:
        if kind == "flag":
            o.append(f"{name[4:]} = {val}")
            public.append(name[4:])
    for name, tag in handles:
        o.append("")
        o.append("")
        o.append(f"class {name}(ctypes.Structure):")
        o.append(f'    """struct {tag} (opaque): handles are ctypes.POINTER({name})."""')
        public.append(name)
    o.append("")
    o.append("")
    o.append("PROTOTYPES = {")
    for ret, name, args in functions:
        res = py_type(ret, enum_types, handle_types, result=True)
        items = [py_type(t, enum_types, handle_types) for t, _ in args]
        o.extend(pack(f'    "{name}": ({res}, [', items, "]),", 8))
    o.append("}")
    o.append("")
    o.append("")
    o.append("def bind(lib):")
    o.append('    """Sets restype and argtypes of every function of oeq.h on lib (a CDLL)."""')
    o.append("    for name, (res, args) in PROTOTYPES.items():")
    o.append("        fn = getattr(lib, name)")
    o.append("        fn.restype = res")
    o.append("        fn.argtypes = args")
    o.append("    return lib")
    o.append("")
    o.append("")
    o.extend(pack("__all__ = [", [f'"{n}"' for n in public + ["PROTOTYPES", "bind"]], "]", 0))
    return "\n".join(o) + "\n"


# --------------------------------------------------------------------- main


def generate(header_text, template_text):
    parsed = parse_header(header_text)
    return {
        OUT_FORTRAN: gen_fortran(parsed),
        OUT_FORTRAN_REAL: gen_fortran_real(parsed, template_text),
        OUT_JULIA: gen_julia(parsed),
        OUT_PYTHON: gen_python(parsed),
    }


def main(argv):
    ap = argparse.ArgumentParser(description="Generate every binding's raw layer from oeq.h.")
    ap.add_argument("--header", default=os.path.join(ROOT, HEADER))
    ap.add_argument("--outdir", default=ROOT)
    a = ap.parse_args(argv[1:])
    with open(a.header, encoding="utf-8") as f:
        header_text = f.read()
    with open(os.path.join(ROOT, TPL_FORTRAN_REAL), encoding="utf-8") as f:
        template_text = f.read()
    for rel, text in generate(header_text, template_text).items():
        path = os.path.join(a.outdir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
