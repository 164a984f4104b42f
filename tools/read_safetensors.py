#!/usr/bin/python3
"""Independent safetensors reader (numpy only), to check our exports without our C++ reader.

    /usr/bin/python3 tools/read_safetensors.py model.safetensors [more.safetensors ...]

prints, per file, the metadata and one line per tensor (in data order):

    # model.safetensors: 3 tensors, 1234 data bytes
    metadata format = pt
    model.norm.weight F32 [64] norm=8.000000000000000e+00 sum=6.400000000000000e+01 sha256=0123456789abcdef

norm is the L2 norm and sum the sum of the values in float64 (BF16/F16 widened first; BOOL as
0/1); sha256 is the first 16 hex digits of the SHA-256 of the tensor's raw bytes. Exit status 1,
with the file named on stderr, when a file is not valid safetensors.

As a module (with tools/ on sys.path):

    from read_safetensors import load
    tensors, metadata = load("model.safetensors")   # dict name -> numpy array, dict str -> str

The checks mirror the format's rules, written separately from src/core/safetensors.cpp: header
length within the file, a JSON object header, known dtypes, byte counts matching shapes, and the
tensors' byte ranges tiling the data buffer with no gap, overlap or trailing bytes.
"""
import hashlib
import json
import os
import sys

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))


from pyensure import ensure  # noqa: E402

ensure("read_safetensors", ["numpy"], ["python3-numpy"])
import numpy as np  # noqa: E402

# safetensors dtype -> (numpy dtype of the stored elements, element bytes). BF16 and the F8 kinds
# have no numpy type: they load as raw unsigned integers and widen() turns BF16 into float32.
DTYPES = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "F8_E4M3": ("u1", 1), "F8_E5M2": ("u1", 1),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1), "BOOL": ("?", 1),
}
MAX_HEADER_BYTES = 100_000_000


class FormatError(Exception):
    pass


def _check(condition, path, message):
    if not condition:
        raise FormatError(f"{path}: {message}")


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate key(s) {duplicates}")
    return dict(pairs)


def _parse_header(raw, path):
    _check(len(raw) >= 8, path, f"too short for a safetensors file ({len(raw)} bytes)")
    n = int.from_bytes(raw[:8], "little")
    _check(n <= MAX_HEADER_BYTES, path, f"header length {n} exceeds the 100 MB limit")
    _check(8 + n <= len(raw), path, f"header length {n} exceeds the file ({len(raw) - 8} bytes)")
    text = raw[8:8 + n]
    _check(text[:1] == b"{", path, "the header does not start with '{'")
    try:
        header = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"{path}: invalid JSON header: {e}") from None
    _check(isinstance(header, dict), path, "the header is not a JSON object")
    return header, raw[8 + n:]


def _entry(path, name, info):
    where = f"tensor '{name}'"
    _check(isinstance(info, dict) and set(info) == {"dtype", "shape", "data_offsets"}, path,
           f"{where}: expected keys dtype, shape, data_offsets, found {info!r}")
    dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
    _check(dtype in DTYPES, path, f"{where}: unknown dtype {dtype!r}")
    _check(isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape), path,
           f"{where}: bad shape {shape!r}")
    _check(isinstance(offsets, list) and len(offsets) == 2 and
           all(isinstance(o, int) for o in offsets) and 0 <= offsets[0] <= offsets[1], path,
           f"{where}: bad data_offsets {offsets!r}")
    count = 1
    for extent in shape:
        count *= extent
    needed = count * DTYPES[dtype][1]
    _check(offsets[1] - offsets[0] == needed, path,
           f"{where}: data_offsets {offsets} hold {offsets[1] - offsets[0]} bytes but {dtype} "
           f"{shape} needs {needed}")
    return name, dtype, shape, offsets[0], offsets[1]


def _layout(path, header, data_bytes):
    """Tensor entries sorted by offset, after checking they tile the data buffer exactly."""
    entries = sorted((_entry(path, name, info) for name, info in header.items()
                      if name != "__metadata__"), key=lambda e: (e[3], e[4]))
    covered = 0
    for name, _, _, begin, end in entries:
        _check(end <= data_bytes, path, f"tensor '{name}': data_offsets [{begin}, {end}] out of "
               f"range (the data buffer holds {data_bytes} bytes)")
        _check(begin == covered, path, f"tensor '{name}': data_offsets [{begin}, {end}] "
               f"{'overlap the previous tensor' if begin < covered else 'leave a gap'}")
        covered = end
    _check(covered == data_bytes, path, f"the tensors cover {covered} bytes but the data buffer "
           f"holds {data_bytes}")
    return entries


def _metadata(path, header):
    metadata = header.get("__metadata__", {})
    _check(isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values()), path,
           "__metadata__ must map strings to strings")
    return metadata


def load_with_dtypes(path):
    """(dict name -> (safetensors dtype, ndarray), metadata), names in data order."""
    with open(path, "rb") as f:
        raw = f.read()
    header, data = _parse_header(raw, path)
    metadata = _metadata(path, header)
    tensors = {}
    for name, dtype, shape, begin, end in _layout(path, header, len(data)):
        array = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[dtype][0])).reshape(shape)
        tensors[name] = (dtype, array)
    return tensors, metadata


def widen(dtype, array):
    """The values as float64 (BF16 decoded; F8 kinds stay as their raw codes)."""
    if dtype == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return array.astype(np.float64)


def load(path):
    """(dict name -> ndarray, metadata). BF16 tensors come back as float32 (numpy has no bf16)."""
    tensors, metadata = load_with_dtypes(path)
    out = {}
    for name, (dtype, array) in tensors.items():
        out[name] = widen(dtype, array).astype(np.float32) if dtype == "BF16" else array
    return out, metadata


def describe(path):
    tensors, metadata = load_with_dtypes(path)
    data_bytes = sum(array.nbytes for _, array in tensors.values())
    lines = [f"# {path}: {len(tensors)} tensors, {data_bytes} data bytes"]
    lines += [f"metadata {key} = {value}" for key, value in sorted(metadata.items())]
    for name, (dtype, array) in tensors.items():
        values = widen(dtype, array)
        shape = "[" + ", ".join(str(d) for d in array.shape) + "]"
        digest = hashlib.sha256(array.tobytes()).hexdigest()[:16]
        lines.append(f"{name} {dtype} {shape} norm={np.sqrt(np.sum(values * values)):.15e} "
                     f"sum={np.sum(values):.15e} sha256={digest}")
    return "\n".join(lines)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    status = 0
    for path in argv:
        try:
            print(describe(path), flush=True)
        except BrokenPipeError:  # `| head`: the reader has seen enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return status
        except (OSError, FormatError) as e:
            print(f"read_safetensors: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
