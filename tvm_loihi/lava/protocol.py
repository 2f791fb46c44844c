"""Wire format between the TVM process and the Lava worker: length-prefixed ``.npz`` frames, no
pickle.

A message is a JSON header plus named numpy arrays, packed with :func:`numpy.savez` (loaded with
``allow_pickle=False``) and framed by an 8-byte big-endian length.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

_LENGTH = struct.Struct(">Q")


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """Pack a JSON-serialisable ``header`` and ``arrays`` into one frame payload."""
    buf = io.BytesIO()
    body = {f"a_{k}": np.asarray(v) for k, v in (arrays or {}).items()}
    np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **body)
    return buf.getvalue()


def decode(payload: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of :func:`encode`."""
    with np.load(io.BytesIO(payload), allow_pickle=False) as z:
        header = json.loads(z["header"].tobytes().decode())
        arrays = {k[2:]: z[k] for k in z.files if k.startswith("a_")}
    return header, arrays


def frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its length."""
    return _LENGTH.pack(len(payload)) + payload


def read_frame(stream) -> bytes | None:
    """Read one frame from a blocking binary stream; ``None`` at a clean end of stream."""
    head = stream.read(_LENGTH.size)
    if not head:
        return None
    if len(head) != _LENGTH.size:
        raise EOFError("truncated frame header")
    (n,) = _LENGTH.unpack(head)
    payload = stream.read(n)
    if len(payload) != n:
        raise EOFError(f"truncated frame: {len(payload)} of {n} bytes")
    return payload


def frame_length(head: bytes) -> int:
    """Payload length announced by an 8-byte frame header."""
    return _LENGTH.unpack(head)[0]


HEADER_SIZE = _LENGTH.size
