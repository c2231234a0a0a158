"""Prints line-table test cases taken from the interpreter that runs this script.

    python3.X tests/unit/linetable_cases.py > cases.txt

tests/unit/check_linetable.c runs it under every CPython on the machine and checks that
pyi_linetable_line() gives, for every instruction offset of every code object listed, the
line the interpreter itself gives.

The code objects are real compiler output: a set of stdlib modules compiled from their
source, recursively through co_consts, plus a few synthetic functions that force the rare
encodings (line jumps over 127 and over 8191, negative deltas, address runs over 255 bytes,
instructions without a line).

The expected line is PyCode_Addr2Line(code, byte offset), called through ctypes: the exact
function the interpreter uses for frame.f_lineno and tracebacks. It is cross-checked against
a second, independent answer where the language offers one (co_positions() on 3.11+,
co_lines() on 3.10, dis.findlinestarts() on 3.8/3.9 for instruction starts); the number of
disagreements is printed on the last line and must be 0.

Output (text, one record per line):
    pyi-linetable-cases 1
    python <version> kind <1|2|3>
    c <first_line> <table hex or -> <lo> <line at lo> <line at lo+1> ...
    end <code objects> <offsets> <disagreements>
The offsets are in the unit pyi_linetable_line() takes for the kind (1: bytes, 2 and 3:
code units), from lo = -1 to one past the last instruction.
"""

import ctypes
import dis
import importlib.util
import sys
import types

MODULES = [
    "json.decoder", "json.encoder", "email.parser", "email._header_value_parser",
    "http.client", "asyncio.base_events", "asyncio.tasks", "argparse", "typing", "inspect",
    "dataclasses", "collections", "textwrap", "difflib", "ast", "enum", "pathlib",
]

# Each of these stresses one corner of the encodings; they are compiled, never run.
SYNTHETIC = (
    "def far_apart():\n"
    "    a = 1\n" + "\n" * 300 + "    b = 2\n" + "\n" * 9000 + "    c = 3\n"
    "    return a, b, c\n"
    "\n"
    "def backwards(f, a, b, c):\n"
    "    x = (a +\n"
    "         b)\n"
    "    return f(\n"
    "        a,\n"
    "        b,\n"
    "    )(c)[\n"
    "        x]\n"
    "\n"
    "def long_line(y):\n"
    "    x = [" + ", ".join("y + %d" % i for i in range(400)) + "]\n"
    "    return x\n"
    "\n"
    "def long_line_calls(f):\n"
    "    x = " + " + ".join("f(%d)" % i for i in range(150)) + "\n"
    "    return x\n"
    "\n"
    "def cleanup(f, lock):\n"
    "    try:\n"
    "        with lock:\n"
    "            return f()\n"
    "    finally:\n"
    "        f()\n"
    "\n"
    "def closure(a):\n"
    "    def inner(b):\n"
    "        return a + b\n"
    "    return inner\n"
    "\n"
    "async def coro(f):\n"
    "    async with f() as g:\n"
    "        async for x in g:\n"
    "            await x\n"
    "\n"
    "def gen(n):\n"
    "    yield from range(n)\n"
    "    return [x for x in range(n) if x]\n"
    "\n"
    "class Body:\n"
    "    x = 1\n"
    "    def method(self):\n"
    "        return self.x\n"
)


def addr2line():
    f = ctypes.pythonapi.PyCode_Addr2Line
    f.argtypes = [ctypes.py_object, ctypes.c_int]
    f.restype = ctypes.c_int
    return f


def kind():
    if sys.version_info < (3, 10):
        return 1
    if sys.version_info < (3, 11):
        return 2
    return 3


def table_of(code):
    if sys.version_info < (3, 10):
        return code.co_lnotab
    return code.co_linetable


def code_size(code, k):
    """Number of offsets in the walker's unit: bytes for kind 1, code units otherwise."""
    n = len(code.co_code)
    return n if k == 1 else n // 2


def second_opinion(code, k, n):
    """{offset: line} from an independent source, for the offsets it covers."""
    lines = {}
    if k == 3:
        for unit, pos in enumerate(code.co_positions()):
            lines[unit] = -1 if pos[0] is None else pos[0]
    elif k == 2:
        for start, end, line in code.co_lines():
            for b in range(start, end, 2):
                lines[b // 2] = -1 if line is None else line
    else:
        # dis.findlinestarts gives the line at each instruction where it changes.
        starts = dict(dis.findlinestarts(code))
        line = code.co_firstlineno
        for offset in range(0, n, 2):
            line = starts.get(offset, line)
            lines[offset] = line
    return lines


def all_codes(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for inner in all_codes(const):
                yield inner


def sources():
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        with open(spec.origin, "rb") as f:
            yield spec.origin, f.read()
    yield "<synthetic>", SYNTHETIC.encode()


def main():
    out = sys.stdout
    lookup = addr2line()
    k = kind()
    ncodes = noffsets = disagree = 0
    out.write("pyi-linetable-cases 1\n")
    out.write("python %s kind %d\n" % (sys.version.split()[0], k))
    for filename, src in sources():
        for code in all_codes(compile(src, filename, "exec", dont_inherit=True)):
            n = code_size(code, k)
            step = 1 if k == 1 else 2
            expected = [lookup(code, i * step) if i >= 0 else lookup(code, -1)
                        for i in range(-1, n + 1)]
            other = second_opinion(code, k, n)
            for offset, line in other.items():
                if expected[offset + 1] != line:
                    disagree += 1
                    if disagree <= 10:
                        sys.stderr.write("disagreement: %s %s offset %d: Addr2Line %d, "
                                         "other %d\n" % (filename, code.co_name, offset,
                                                         expected[offset + 1], line))
            table = table_of(code)
            out.write("c %d %s -1 %s\n" % (code.co_firstlineno, table.hex() or "-",
                                           " ".join("%d" % x for x in expected)))
            ncodes += 1
            noffsets += len(expected)
    out.write("end %d %d %d\n" % (ncodes, noffsets, disagree))


if __name__ == "__main__":
    main()
