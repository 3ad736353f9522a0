#!/usr/bin/env python3
"""check_ccalls.py: check the Julia package's C calls against include/oeq.h.

Julia cannot run here, so this is what keeps julia/ honest:
  - every `ccall(...)` / `@ccall ...` names a function of oeq.h, with the
    same number of arguments, argument types and return type that fit the C
    prototype (Cint/Int32 for int and enums, Int64 for int64_t, Csize_t for
    size_t, UInt32/Cuint for uint32_t, Cdouble for double, Cstring or
    Ptr{UInt8} for char pointers, Ptr{oeq_problem_s}/Ptr{oeq_plan_s} for the
    handles, Ref/Ptr of those for out-pointers, Ptr{T}/CuPtr{T} for void *),
    and passes as many values as it declares types;
  - every `const OEQ_* = ...` has the header's value, and every enum value
    and flag of the header has its Julia constant.
Functions of oeq.h that no ccall uses are listed as a warning.

usage: check_ccalls.py HEADER FILE.jl...   (exit 0 ok, 1 mismatches)
"""
import importlib.util
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("genf03", os.path.join(HERE, "..", "..", "fortran", "genf03.py"))
genf03 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(genf03)

SCALARS = {
    "int": {"Cint", "Int32"},
    "int64_t": {"Int64"},
    "int32_t": {"Int32", "Cint"},
    "uint32_t": {"UInt32", "Cuint"},
    "size_t": {"Csize_t", "UInt64"},
    "double": {"Cdouble", "Float64"},
}
HANDLES = {"oeq_problem_t": "oeq_problem_s", "oeq_plan_t": "oeq_plan_s"}


def norm_type(t):
    """Julia type text without blanks and module prefixes (CUDA.CuPtr -> CuPtr)."""
    t = re.sub(r"\s+", "", t)
    return re.sub(r"\b[A-Za-z_]\w*\.(?=[A-Za-z_])", "", t)


def unwrap(t, *wrappers):
    m = re.fullmatch(r"(%s)\{(.*)\}" % "|".join(wrappers), t)
    return (m.group(1), m.group(2)) if m else (None, None)


def c_value_types(ctype, enums):
    if ctype in enums:
        return SCALARS["int"]
    return SCALARS.get(ctype, set())


def fits(ctype, jtype, enums, result=False):
    """Does Julia type jtype fit C type ctype? Returns an error string or None."""
    j = norm_type(jtype)
    stars = ctype.count("*")
    const = ctype.startswith("const")
    base = ctype.replace("*", " ").replace("const", " ").split()[0]
    if stars == 0:
        if base == "void":
            ok = j in ("Cvoid", "Nothing")
        else:
            ok = j in c_value_types(base, enums)
        return None if ok else f"C {ctype} needs one of {sorted(c_value_types(base, enums) or {'Cvoid'})}"
    if base == "char":
        ok = j in (("Cstring",) if const else ()) + ("Ptr{UInt8}", "Ptr{Cchar}", "Ptr{Int8}")
        return None if ok else f"C {ctype} needs {'Cstring or ' if const else ''}Ptr{{UInt8}}"
    wrap, inner = unwrap(j, "Ptr", "Ref", "CuPtr")
    if wrap is None:
        return f"C {ctype} needs a Ptr/Ref/CuPtr type, not {j}"
    if base in HANDLES:
        want = HANDLES[base]
        if stars == 1:
            ok = wrap == "Ptr" and inner == want
            return None if ok else f"C {ctype} needs Ptr{{{want}}}"
        ok = wrap in ("Ptr", "Ref") and inner == f"Ptr{{{want}}}"
        return None if ok else f"C {ctype} needs Ref{{Ptr{{{want}}}}} or Ptr{{Ptr{{{want}}}}}"
    if stars != 1:
        return f"C {ctype}: unsupported pointer depth"
    if base == "void":
        if inner in HANDLES.values() or wrap == "Ref":
            return f"C {ctype} takes Ptr{{T}} / CuPtr{{T}} of data, not {j}"
        return None
    ok = wrap in ("Ptr", "Ref") and inner in c_value_types(base, enums)
    return None if ok else f"C {ctype} needs Ptr/Ref of {sorted(c_value_types(base, enums))}"


# ------------------------------------------------------------ Julia scanning

def strip_julia_comments(text):
    """Blank out comments and string contents (keeping offsets and line numbers)."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        if text.startswith("#=", i):
            j = text.find("=#", i + 2)
            j = n if j < 0 else j + 2
            for k in range(i, j):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif text[i] == "#":
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
        elif text.startswith('"""', i):
            j = text.find('"""', i + 3)
            j = n if j < 0 else j + 3
            for k in range(i + 3, j - 3):
                if out[k] != "\n":
                    out[k] = " "
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            for k in range(i + 1, min(j, n)):
                if out[k] != "\n":
                    out[k] = " "
            i = j + 1
        elif text[i] == "'" and i + 2 < n and (text[i + 2] == "'" or text[i + 1] == "\\"):
            j = text.find("'", i + 2 if text[i + 1] == "\\" else i + 1)
            i = (n if j < 0 else j) + 1
        else:
            i += 1
    return "".join(out)


def matching(text, start):
    """Index just past the bracket closing the one at text[start]."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for i in range(start, len(text)):
        c = text[i]
        if c in pairs:
            stack.append(pairs[c])
        elif c in ")]}":
            if not stack or stack.pop() != c:
                raise ValueError(f"unbalanced {c!r}")
            if not stack:
                return i + 1
    raise ValueError("unclosed bracket")


def split_top(text):
    """Split at commas outside brackets; drops a trailing empty piece ("(A,)")."""
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    last = "".join(cur).strip()
    if last:
        parts.append(last)
    return parts


def tuple_items(text):
    t = text.strip()
    if not (t.startswith("(") and t.endswith(")") and matching(t, 0) == len(t)):
        raise ValueError(f"argument types must be a literal tuple, not {t!r}")
    return split_top(t[1:-1])


def find_calls(code):
    """Yields (offset, name, return type, [arg types], number of values, form)."""
    for m in re.finditer(r"(?<![\w.@])ccall\s*\(", code):
        end = matching(code, m.end() - 1)
        args = split_top(code[m.end():end - 1])
        if len(args) < 3:
            raise ValueError("ccall with fewer than 3 arguments")
        fn = re.search(r":(\w+)", args[0])
        yield m.start(), fn.group(1) if fn else args[0], args[1], tuple_items(args[2]), len(args) - 3, "ccall"
    for m in re.finditer(r"@ccall\s+", code):
        p = code.find("(", m.end())
        head = code[m.end():p]
        fn = re.search(r"(\w+)\s*$", head)
        end = matching(code, p)
        rm = re.match(r"\s*::\s*([\w.]+(?:\{[^\n]*?\})?)", code[end:])
        args = split_top(code[p + 1:end - 1])
        types = []
        for a in args:
            if a.startswith(";"):
                break
            am = re.fullmatch(r"(?s).*?::\s*(.+)", a)
            if not am:
                raise ValueError(f"@ccall argument {a!r} has no ::Type")
            types.append(am.group(1))
        yield m.start(), fn.group(1) if fn else head, rm.group(1) if rm else "Cvoid", types, len(types), "@ccall"


def parse_const_value(expr):
    e = re.sub(r"\s+", "", expr)
    e = re.sub(r"^(?:Cint|Int32|UInt32|Cuint|Int64)\((.*)\)$", r"\1", e)
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)(?:<<(\d+))?", e)
    if not m:
        return None
    v = int(m.group(1), 0)
    return v << int(m.group(2)) if m.group(2) else v


def main(argv):
    if len(argv) < 3:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        header_text = f.read()
    enums, macros, functions = genf03.parse_header(header_text)
    declared = len(re.findall(r"^\s*OEQ_API\b", genf03.strip_comments(header_text), flags=re.M))
    if declared != len(functions):
        print(f"check_ccalls: read {len(functions)} of {declared} OEQ_API declarations of {argv[1]}")
        return 1
    enum_types = {name for name, _ in enums}
    protos = {name: (ret, args) for ret, name, args in functions}
    constants = {n: v for _, vals in enums for n, v in vals}
    constants.update({n: v for n, v, _ in macros})

    errors, used, seen_consts = [], set(), {}
    ncalls = 0
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        code = strip_julia_comments(raw)
        line = lambda off: raw.count("\n", 0, off) + 1  # noqa: E731
        try:
            calls = list(find_calls(code))
        except ValueError as e:
            errors.append(f"{path}: cannot read a ccall: {e}")
            continue
        for off, name, ret, types, nvalues, form in calls:
            ncalls += 1
            where = f"{path}:{line(off)}: {form} {name}"
            if name not in protos:
                errors.append(f"{where}: not a function of oeq.h")
                continue
            used.add(name)
            cret, cargs = protos[name]
            if len(types) != len(cargs):
                errors.append(f"{where}: {len(types)} argument types, the C prototype has {len(cargs)}")
                continue
            if nvalues != len(types):
                errors.append(f"{where}: {len(types)} argument types but {nvalues} values")
            err = fits(cret, ret, enum_types, result=True)
            if err:
                errors.append(f"{where}: return type {norm_type(ret)}: {err}")
            for k, ((ctype, cname), jtype) in enumerate(zip(cargs, types)):
                err = fits(ctype, jtype, enum_types)
                if err:
                    errors.append(f"{where}: argument {k + 1} ({cname}) {norm_type(jtype)}: {err}")
        for m in re.finditer(r"^\s*const\s+(OEQ_[A-Z0-9_]+)\s*=\s*(.+?)\s*$", code, flags=re.M):
            name, value = m.group(1), parse_const_value(m.group(2))
            where = f"{path}:{line(m.start())}: const {name}"
            if name not in constants:
                errors.append(f"{where}: no such enum value or macro in oeq.h")
            elif value is None:
                errors.append(f"{where}: cannot read the value {m.group(2)!r}")
            elif value != constants[name]:
                errors.append(f"{where} = {value}, oeq.h says {constants[name]}")
            seen_consts[name] = value
    for name in constants:
        if name not in seen_consts:
            errors.append(f"oeq.h's {name} has no Julia constant")
    unused = [n for n in protos if n not in used]
    if unused:
        print("warning: oeq.h functions no ccall uses: " + ", ".join(unused))
    for e in errors:
        print(e)
    print(f"check_ccalls: {ncalls} calls, {len(seen_consts)} constants, {len(errors)} problem(s)")
    return 1 if errors or ncalls == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
