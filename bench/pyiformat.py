"""pyiformat: reads and writes pyinstr profiles (docs/FORMAT.md, version 1) for the bench.

The bench reads profiles itself for what the report does not print (each sample's CPU delta,
the number of samples that cost a signal) and writes synthetic ones to time pyinstr-report.
Only what the bench needs; the reader stops quietly at a truncated tail, as the report does.
"""

import struct

MAGIC = b"PYINSTR\x1a"
HEADER_SIZE = 32
REC_INFO, REC_CODE, REC_THREAD, REC_SAMPLE, REC_COUNTERS, REC_END = 1, 2, 3, 4, 5, 6
FLAG_TRUNCATED, FLAG_REPEAT, FLAG_PARTIAL = 1, 2, 4

_REC = struct.Struct("<HHI")
_SAMPLE = struct.Struct("<IQQQHH")


class ProfileError(Exception):
    pass


class Tally:
    """What one profile says about the functions a workload cares about.

    Weights count only samples whose stack contains `region`: wall[name] and cpu[name] sum the
    samples' wall_ns and cpu_ns where `name` is on the stack (once per sample, however many
    times it appears: inclusive, recursion counted once).
    """

    def __init__(self, region, names):
        self.region = region
        self.names = tuple(names)
        self.wall = dict.fromkeys((region,) + self.names, 0)
        self.cpu = dict.fromkeys((region,) + self.names, 0)
        self.count = dict.fromkeys((region,) + self.names, 0)
        self.samples = 0          # SAMPLE records
        self.signal_samples = 0   # those that were not REPEATs (each cost a signal and a walk)
        self.cpu_samples = 0      # those of them that carry CPU time (the CPU view's samples)
        self.max_depth = 0
        self.counters = {}
        self.info = {}
        self.ended = False
        self.threads = 0

    def share(self, metric, name):
        weights = {"wall": self.wall, "cpu": self.cpu, "count": self.count}[metric]
        total = weights[self.region]
        return weights[name] / total if total else None


def tally(path, region, names):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER_SIZE or data[:8] != MAGIC:
        raise ProfileError("%s: not a pyinstr profile" % path)
    major, _minor, header_size = struct.unpack_from("<HHI", data, 8)
    if major != 1:
        raise ProfileError("%s: format major %d" % (path, major))
    t = Tally(region, names)
    wanted = set(t.wall)
    code_names = {}
    stack_names = {}   # frames bytes -> names of interest on that stack
    previous = {}      # thread id -> frames bytes of its last full sample
    pos = header_size
    end = len(data)
    while pos + 8 <= end:
        rtype, _reserved, length = _REC.unpack_from(data, pos)
        body = pos + 8
        if body + length > end:
            break  # truncated tail
        if rtype == REC_SAMPLE:
            thread, _time, wall, cpu, flags, depth = _SAMPLE.unpack_from(data, body)
            t.samples += 1
            if flags & FLAG_REPEAT:
                frames = previous.get(thread, b"")
            else:
                t.signal_samples += 1
                if cpu:
                    t.cpu_samples += 1
                frames = data[body + 32:body + 32 + 8 * depth]
                previous[thread] = frames
                if depth > t.max_depth:
                    t.max_depth = depth
            found = stack_names.get(frames)
            if found is None:
                ids = struct.unpack_from("<%dI" % (len(frames) // 8 * 2), frames)[0::2]
                found = frozenset(code_names.get(i) for i in ids) & wanted
                stack_names[frames] = found
            if region in found:
                for name in found:
                    t.wall[name] += wall
                    t.cpu[name] += cpu
                    t.count[name] += 1
        elif rtype == REC_CODE:
            code_id, _first_line, qlen = struct.unpack_from("<IiH", data, body)
            code_names[code_id] = data[body + 10:body + 10 + qlen].decode("utf-8", "replace")
        elif rtype == REC_THREAD:
            t.threads += 1
        elif rtype == REC_COUNTERS:
            p, stop = body, body + length
            while p + 2 <= stop:
                (klen,) = struct.unpack_from("<H", data, p)
                key = data[p + 2:p + 2 + klen].decode("utf-8", "replace")
                (value,) = struct.unpack_from("<Q", data, p + 2 + klen)
                t.counters[key] = value
                p += 2 + klen + 8
        elif rtype == REC_INFO:
            p, stop = body, body + length
            while p + 2 <= stop:
                (klen,) = struct.unpack_from("<H", data, p)
                key = data[p + 2:p + 2 + klen].decode("utf-8", "replace")
                (vlen,) = struct.unpack_from("<I", data, p + 2 + klen)
                v0 = p + 6 + klen
                t.info[key] = data[v0:v0 + vlen].decode("utf-8", "replace")
                p = v0 + vlen
        elif rtype == REC_END:
            t.ended = True
        pos = body + length
    return t


class Writer:
    """Writes a profile record by record (for synthetic profiles)."""

    def __init__(self, f, pid=1, start_ns=0):
        self.f = f
        header = bytearray(HEADER_SIZE)
        header[0:8] = MAGIC
        struct.pack_into("<HHIIIQ", header, 8, 1, 0, HEADER_SIZE, pid, 0, start_ns)
        f.write(header)

    def record(self, rtype, payload):
        self.f.write(_REC.pack(rtype, 0, len(payload)) + payload)

    def info(self, key, value):
        k, v = key.encode(), value.encode()
        self.record(REC_INFO, struct.pack("<H", len(k)) + k + struct.pack("<I", len(v)) + v)

    def code(self, code_id, first_line, qualname, filename):
        q, f = qualname.encode(), filename.encode()
        self.record(REC_CODE, struct.pack("<IiH", code_id, first_line, len(q)) + q +
                    struct.pack("<H", len(f)) + f)

    def thread(self, thread_id, native_tid, name):
        n = name.encode()
        self.record(REC_THREAD, struct.pack("<IQH", thread_id, native_tid, len(n)) + n)

    @staticmethod
    def sample_bytes(thread_id, time_ns, wall_ns, cpu_ns, flags, frames):
        """One whole SAMPLE record; frames: (code_id, line) pairs, leaf first."""
        payload = _SAMPLE.pack(thread_id, time_ns, wall_ns, cpu_ns, flags, len(frames))
        payload += b"".join(struct.pack("<Ii", c, line) for c, line in frames)
        return _REC.pack(REC_SAMPLE, 0, len(payload)) + payload

    def counters(self, items):
        payload = b""
        for key, value in items:
            k = key.encode()
            payload += struct.pack("<H", len(k)) + k + struct.pack("<Q", value)
        self.record(REC_COUNTERS, payload)

    def end(self, time_ns, reason=0):
        self.record(REC_END, struct.pack("<QI", time_ns, reason))
