#!/usr/bin/env python3
"""genf03.py: write the Fortran 2003 interface module oeq_c from include/oeq.h.

FFTW's genf03 approach: the bind(C) interfaces are generated from the C
header, so the Fortran layer cannot drift from the ABI. make check regenerates
the module and fails on any difference from the committed fortran/oeq_c.f90.

Usage: genf03.py [HEADER] > oeq_c.f90     (HEADER defaults to include/oeq.h)

Type table (style.md):
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
"""
import os
import re
import sys

SCALARS = {
    "int": "integer(c_int)",
    "int64_t": "integer(c_int64_t)",
    "int32_t": "integer(c_int32_t)",
    "uint32_t": "integer(c_int32_t)",
    "size_t": "integer(c_size_t)",
    "double": "real(c_double)",
    "float": "real(c_float)",
}
HANDLES = {"oeq_problem_t", "oeq_plan_t"}
MAX_LINE = 100


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def parse_header(text):
    """Returns (enums, macros, functions) in header order.

    enums: [(type name, [(NAME, value)])]; macros: [(NAME, value)];
    functions: [(return type, name, [(type, arg name)])]."""
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
                raise SystemExit(f"genf03: cannot read enum item {item!r} of {name}")
            val = int(m.group(2)) if m.group(2) is not None else nxt
            values.append((m.group(1), val))
            nxt = val + 1
        enums.append((name, values))
    macros = []
    for name, expr in re.findall(r"^[ \t]*#[ \t]*define[ \t]+(OEQ_\w+)[ \t]+(.+?)[ \t]*$", code, flags=re.M):
        expr = expr.strip()
        m = re.fullmatch(r"\(?\s*(\d+)u?\s*<<\s*(\d+)\s*\)?", expr)
        if m:
            macros.append((name, int(m.group(1)) << int(m.group(2)), "flag"))
        elif re.fullmatch(r"\d+", expr):
            macros.append((name, int(expr), "int"))
    functions = []
    flat = " ".join(code.split())
    for ret, name, args in re.findall(r"OEQ_API\s+([\w\s\*]+?)\s*\b(oeq_\w+)\s*\(([^)]*)\)\s*;", flat):
        arglist = []
        if args.strip() != "void":
            for a in args.split(","):
                m = re.fullmatch(r"\s*(.*?[\s\*])(\w+)\s*", a)
                if not m:
                    raise SystemExit(f"genf03: cannot read argument {a!r} of {name}")
                arglist.append((" ".join(m.group(1).replace("*", " * ").split()), m.group(2)))
        functions.append((" ".join(ret.replace("*", " * ").split()), name, arglist))
    return enums, macros, functions


def fortran_arg(ctype, enum_types):
    """(declaration without the name) for one C argument type."""
    stars = ctype.count("*")
    base = ctype.replace("*", " ").replace("const", " ").split()
    if len(base) != 1:
        raise SystemExit(f"genf03: unsupported type {ctype!r}")
    base = base[0]
    is_const = ctype.startswith("const")
    if stars == 0:
        if base in enum_types:
            return "integer(c_int), value"
        if base in SCALARS:
            return SCALARS[base] + ", value"
        raise SystemExit(f"genf03: unsupported value type {ctype!r}")
    if stars == 2 and base in HANDLES:
        return "type(c_ptr), intent(out)"
    if stars == 1 and base == "char" and is_const:
        return "character(kind=c_char), dimension(*), intent(in)"
    if stars == 1 and not is_const and base in enum_types:
        return "integer(c_int), intent(out)"
    if stars == 1 and not is_const and base in SCALARS and base not in ("double", "float"):
        return SCALARS[base] + ", intent(out)"
    if stars == 1:
        return "type(c_ptr), value"
    raise SystemExit(f"genf03: unsupported pointer type {ctype!r}")


def fortran_result(ctype, enum_types):
    if ctype == "void":
        return None
    if "*" in ctype:
        return "type(c_ptr)"
    if ctype in enum_types:
        return "integer(c_int)"
    if ctype in SCALARS:
        return SCALARS[ctype]
    raise SystemExit(f"genf03: unsupported return type {ctype!r}")


def wrap(line, indent):
    """Split a long line with Fortran continuations at argument commas."""
    if len(line) <= MAX_LINE:
        return [line]
    out, cur = [], line
    while len(cur) > MAX_LINE:
        cut = cur.rfind(", ", 0, MAX_LINE - 2)
        if cut <= len(indent):
            raise SystemExit(f"genf03: cannot wrap {line!r}")
        out.append(cur[: cut + 1] + " &")
        cur = indent + "    " + cur[cut + 2 :]
    out.append(cur)
    return out


def generate(text, source_name):
    enums, macros, functions = parse_header(text)
    enum_types = {name for name, _ in enums}
    func_names = {name.lower() for _, name, _ in functions}
    o = []
    o.append(f"! oeq_c.f90: GENERATED from {source_name} by fortran/genf03.py. Do not edit;")
    o.append("! run `python3 fortran/genf03.py include/oeq.h > fortran/oeq_c.f90` instead.")
    o.append("!")
    o.append("! The raw Fortran 2003 interface of liboeq: every enum value and flag as a")
    o.append("! parameter and one bind(C) interface per function of oeq.h. Strings must be")
    o.append("! NUL-terminated (trim(s)//c_null_char); arrays go as type(c_ptr) (c_loc,")
    o.append("! c_devloc, or a device address); rows are C row-major. Module `oeq` is the")
    o.append("! friendly layer on top of this one.")
    o.append("module oeq_c")
    o.append("  use, intrinsic :: iso_c_binding")
    o.append("  implicit none")
    o.append("  public")
    o.append("")
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
            o.append(f"{ind}  {fortran_arg(ctype, enum_types)} :: {aname}")
        if res is not None:
            o.append(f"{ind}  {res} :: res")
            o.append(f"{ind}end function {name}")
        else:
            o.append(f"{ind}end subroutine {name}")
    o.append("  end interface")
    o.append("end module oeq_c")
    return "\n".join(o) + "\n"


def main(argv):
    header = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "include", "oeq.h")
    with open(header, encoding="utf-8") as f:
        text = f.read()
    sys.stdout.write(generate(text, "include/oeq.h"))


if __name__ == "__main__":
    main(sys.argv)
