"""Wire formats between a tuner and a measurement host: schemas, validation and size limits.

Two payloads cross the RPC link, both plain data (JSON and ``.npz`` loaded with
``allow_pickle=False``; never pickle, so a host cannot be made to execute code by what it is sent):

* :class:`UploadPayload` -- sent once per session and workload: the network
  (``NetworkIR.to_bytes``), the hardware spec (JSON) and the activity profile (bit-packed spike
  masks), in one ``.npz`` blob.
* :class:`MeasureRequest` -- sent per measurement: the keys naming an uploaded workload, the mapping
  as JSON, the fidelity and the host-side time limit.
* a batch (:func:`batch_to_text` / :func:`batch_from_text`) -- up to :data:`MAX_BATCH_ITEMS` measure
  requests in one call, when a measurement is cheap next to a round trip; each item is validated
  like a single request and answered with its own result.

Every decoder checks the size before parsing (for ``.npz``, the decompressed size, see
:func:`check_npz`) and the schema after, and raises :class:`PayloadError`
with what was wrong and by how much; the host turns that into a ``BAD_PAYLOAD`` result and keeps
serving.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.activity import ActivityProfile
from ..model.network import NetworkIR
from .records import canonical_json

PROTOCOL_VERSION = 1
# mlp_k (4 x 8192^2 synapses at 5 % density) uploads ~70 MB: leave room, refuse the absurd.
MAX_UPLOAD_BYTES = 256 << 20
MAX_HARDWARE_JSON_BYTES = 256 << 10
# A mapping is O(cores) numbers: Kapoho Point's 1,024 cores fit in ~100 kB.
MAX_REQUEST_BYTES = 1 << 20
MAX_TIMEOUT_S = 3600.0
# A batch: at most this many requests, this many bytes in all (each item also within
# MAX_REQUEST_BYTES).
MAX_BATCH_ITEMS = 64
MAX_BATCH_BYTES = 8 << 20


class PayloadError(ValueError):
    """A payload broke the schema or a size limit (reported to the tuner as ``BAD_PAYLOAD``)."""


def _check_size(what: str, n_bytes: int, limit: int) -> None:
    if n_bytes > limit:
        raise PayloadError(
            f"{what} is {n_bytes} bytes, over the host's limit of {limit} bytes "
            f"by {n_bytes - limit}"
        )


# -- zip bombs -------------------------------------------------------------------------------------
MAX_NPZ_MEMBERS = 4096
_CHUNK = 1 << 20


def check_npz(blob: bytes, what: str, max_bytes: int) -> int:
    """Refuse an ``.npz`` whose *decompressed* content exceeds ``max_bytes``, before anything is
    allocated for it.

    ``np.load`` inflates each member and allocates the array its ``.npy`` header declares, so a
    1 MB deflated member can become 1 GiB. Here the declared sizes (zip directory and ``.npy``
    headers) are summed and refused first; then every compressed member is inflated in 1 MiB chunks
    with the running total checked, so a member that lies about its size is refused too (stored
    members, what ``np.savez`` writes, hold their bytes in the blob and are not re-read). Peak
    memory is one chunk.

    Parameters
    ----------
    blob : bytes
        The ``.npz`` bytes.
    what : str
        What it is (named in the error).
    max_bytes : int
        Limit on the total decompressed size of all members.

    Returns
    -------
    int
        The total decompressed size.

    Raises
    ------
    PayloadError
        Not a zip, too many members, an unreadable ``.npy`` header, or over the limit.
    """
    try:
        zf = zipfile.ZipFile(io.BytesIO(blob))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise PayloadError(f"malformed {what}: {type(exc).__name__}: {exc}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise PayloadError(
                f"{what} has {len(infos)} members, over the host's limit of {MAX_NPZ_MEMBERS}"
            )
        _check_size(
            f"{what} (decompressed, as declared)", sum(i.file_size for i in infos), max_bytes
        )
        total = 0
        for info in infos:
            try:
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                    else:
                        raise PayloadError(
                            f"{what} member {info.filename!r}: .npy version "
                            f"{version} is not accepted"
                        )
                    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    _check_size(
                        f"{what} member {info.filename!r} (as its .npy header declares)",
                        total + declared,
                        max_bytes,
                    )
                    total += f.tell()
                    if info.compress_type == zipfile.ZIP_STORED:  # its bytes are in the blob
                        _check_size(
                            f"{what} member {info.filename!r} data",
                            declared,
                            info.file_size - f.tell(),
                        )
                        total += declared
                        continue
                    while chunk := f.read(_CHUNK):
                        total += len(chunk)
                        _check_size(f"{what} (decompressed)", total, max_bytes)
            except PayloadError:
                raise
            except Exception as exc:  # BadZipFile, zlib.error, a bad .npy header, ...
                raise PayloadError(
                    f"malformed {what} member {info.filename!r}: {type(exc).__name__}: {exc}"
                ) from None
    return total


# -- activity --------------------------------------------------------------------------------------
def pack_activity(activity: ActivityProfile) -> dict[str, np.ndarray]:
    """Spike masks as bit-packed uint8 arrays (8x smaller than bool) plus their shapes."""
    shapes = np.array([s.shape for s in activity.spikes], dtype=np.int64).reshape(-1, 2)
    arrays = {f"spikes{k}": np.packbits(s, axis=1) for k, s in enumerate(activity.spikes)}
    return {"activity_shapes": shapes, **arrays}


def unpack_activity(arrays: dict[str, np.ndarray]) -> ActivityProfile:
    """Inverse of :func:`pack_activity`."""
    shapes = np.asarray(arrays["activity_shapes"], dtype=np.int64)
    if shapes.ndim != 2 or shapes.shape[1] != 2 or (shapes < 0).any():
        raise PayloadError(
            f"activity shapes must be (populations, 2) non-negative, got {shapes.shape}"
        )
    spikes = []
    for k, (rows, cols) in enumerate(shapes.tolist()):
        packed = np.asarray(arrays[f"spikes{k}"], dtype=np.uint8)
        if packed.shape != (rows, (cols + 7) // 8):
            raise PayloadError(
                f"activity population {k}: packed shape {packed.shape} does not "
                f"match ({rows}, {cols}) spikes"
            )
        spikes.append(np.unpackbits(packed, axis=1, count=cols).astype(bool))
    return ActivityProfile(tuple(spikes))


# -- upload ----------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class UploadPayload:
    """A workload as a host needs it: network, hardware spec and activity profile.

    Parameters
    ----------
    network : NetworkIR
        The offloaded network.
    hardware : HardwareSpec
        The target hardware.
    activity : ActivityProfile
        Who spikes for the tuning inputs; must match the network's population sizes.
    """

    network: NetworkIR
    hardware: Any
    activity: ActivityProfile

    def __post_init__(self) -> None:
        try:
            self.activity.check_matches(self.network)
        except ValueError as exc:
            raise PayloadError(str(exc)) from None

    @property
    def workload_key(self) -> str:
        return self.network.workload_key()

    @property
    def hardware_key(self) -> str:
        return self.hardware.key()

    def to_bytes(self) -> bytes:
        """One ``.npz`` blob (no pickle): network bytes, hardware JSON, packed activity, declared
        keys."""
        header = {
            "v": PROTOCOL_VERSION,
            "workload_key": self.workload_key,
            "hardware_key": self.hardware_key,
        }
        buf = io.BytesIO()
        np.savez(
            buf,
            header=_text_array(canonical_json(header)),
            network=np.frombuffer(self.network.to_bytes(), dtype=np.uint8),
            hardware=_text_array(canonical_json(self.hardware.to_json())),
            **pack_activity(self.activity),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes, max_bytes: int = MAX_UPLOAD_BYTES) -> UploadPayload:
        """Decode and validate an upload; raises :class:`PayloadError` on any defect."""
        from ..model.hardware import HardwareSpec

        _check_size("upload", len(blob), max_bytes)
        blob = bytes(blob)
        check_npz(blob, "upload", max_bytes)
        try:
            with np.load(io.BytesIO(bytes(blob)), allow_pickle=False) as z:
                arrays = {name: z[name] for name in z.files}
            header = json.loads(arrays["header"].tobytes().decode())
            if header.get("v") != PROTOCOL_VERSION:
                raise PayloadError(
                    f"upload protocol v{header.get('v')}, host speaks v{PROTOCOL_VERSION}"
                )
            hw_text = arrays["hardware"].tobytes()
            _check_size("hardware JSON", len(hw_text), MAX_HARDWARE_JSON_BYTES)
            network_bytes = arrays["network"].tobytes()
            check_npz(network_bytes, "upload network", max_bytes)
            payload = cls(
                NetworkIR.from_bytes(network_bytes),
                HardwareSpec.from_json(json.loads(hw_text.decode())),
                unpack_activity(arrays),
            )
        except PayloadError:
            raise
        except (
            ValueError,
            KeyError,
            TypeError,
            OSError,
            zipfile.BadZipFile,
            UnicodeDecodeError,
            AttributeError,
            IndexError,
        ) as exc:
            raise PayloadError(f"malformed upload: {type(exc).__name__}: {exc}") from None
        checks = (
            ("workload", header.get("workload_key"), payload.workload_key),
            ("hardware", header.get("hardware_key"), payload.hardware_key),
        )
        for what, declared, actual in checks:
            if declared != actual:
                raise PayloadError(
                    f"upload declares {what} key {declared!r} but its content "
                    f"hashes to {actual!r} (client and host tvm_loihi versions "
                    "differ?)"
                )
        return payload


def _text_array(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-8"), dtype=np.uint8)


# -- measure ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeasureRequest:
    """One measurement request: which uploaded workload, which mapping, which fidelity, how long at
    most.

    Parameters
    ----------
    workload_key, hardware_key : str
        Keys of a workload uploaded earlier in the session.
    mapping : dict
        ``Mapping.to_json()``.
    fidelity : str
        ``"fast"`` or ``"event"`` (a real Loihi host would accept its own name).
    timeout_s : float
        The host abandons the measurement after this long and answers ``TIMEOUT``.
    """

    workload_key: str
    hardware_key: str
    mapping: dict
    fidelity: str
    timeout_s: float

    def __post_init__(self) -> None:
        for name in ("workload_key", "hardware_key", "fidelity"):
            value = getattr(self, name)
            if not isinstance(value, str) or not 0 < len(value) <= 128:
                raise PayloadError(
                    f"measure request: {name} must be a non-empty string of at most "
                    f"128 characters, got {value!r:.80}"
                )
        if not isinstance(self.mapping, dict):
            raise PayloadError(
                f"measure request: mapping must be a JSON object, got {type(self.mapping).__name__}"
            )
        timeout = self.timeout_s
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= MAX_TIMEOUT_S
        ):
            raise PayloadError(
                f"measure request: timeout_s must be in (0, {MAX_TIMEOUT_S}], got {timeout!r}"
            )

    def to_text(self) -> str:
        return canonical_json(self.to_json())

    @classmethod
    def from_text(cls, text: str, max_bytes: int = MAX_REQUEST_BYTES) -> MeasureRequest:
        """Decode and validate a request; raises :class:`PayloadError` on any defect."""
        if not isinstance(text, str):
            raise PayloadError(f"measure request must be JSON text, got {type(text).__name__}")
        _check_size("measure request", len(text.encode("utf-8", "surrogatepass")), max_bytes)
        try:
            d = json.loads(text)
        except ValueError as exc:
            raise PayloadError(f"measure request is not JSON: {exc}") from None
        if not isinstance(d, dict):
            raise PayloadError(f"measure request must be a JSON object, got {type(d).__name__}")
        if d.get("v") != PROTOCOL_VERSION:
            raise PayloadError(
                f"measure request protocol v{d.get('v')!r}, host speaks v{PROTOCOL_VERSION}"
            )
        return cls.from_json(d)

    def to_json(self) -> dict:
        """The request as a JSON object (what :meth:`to_text` encodes)."""
        return {
            "v": PROTOCOL_VERSION,
            "workload_key": self.workload_key,
            "hardware_key": self.hardware_key,
            "mapping": self.mapping,
            "fidelity": self.fidelity,
            "timeout_s": float(self.timeout_s),
        }

    @classmethod
    def from_json(cls, d: Any) -> MeasureRequest:
        """Validate a decoded request object; raises :class:`PayloadError` on any defect."""
        if not isinstance(d, dict):
            raise PayloadError(f"measure request must be a JSON object, got {type(d).__name__}")
        if d.get("v") != PROTOCOL_VERSION:
            raise PayloadError(
                f"measure request protocol v{d.get('v')!r}, host speaks v{PROTOCOL_VERSION}"
            )
        expected = {"v", "workload_key", "hardware_key", "mapping", "fidelity", "timeout_s"}
        if set(d) != expected:
            raise PayloadError(f"measure request fields {sorted(d)}, expected {sorted(expected)}")
        return cls(
            d["workload_key"], d["hardware_key"], d["mapping"], d["fidelity"], d["timeout_s"]
        )


def batch_to_text(requests: list[MeasureRequest], budget_s: float) -> str:
    """A batch of requests as JSON text: ``{"v", "budget_s", "requests": [request, ...]}``.

    ``budget_s`` bounds the batch on the host: no item is *started* after it has passed (each item
    still has its own ``timeout_s``); the items not started are left out of the answer, and the
    client sends them again.
    """
    return canonical_json(
        {
            "v": PROTOCOL_VERSION,
            "budget_s": float(budget_s),
            "requests": [r.to_json() for r in requests],
        }
    )


def batch_from_text(
    text: str, max_items: int = MAX_BATCH_ITEMS, max_bytes: int = MAX_BATCH_BYTES
) -> tuple[float, list[MeasureRequest | PayloadError]]:
    """Decode a batch: ``(budget_s, items)``, each item a :class:`MeasureRequest` or the
    :class:`PayloadError` that item raised (answered as that item's ``BAD_PAYLOAD``).

    Raises
    ------
    PayloadError
        The batch as a whole is malformed: not JSON text, over ``max_bytes`` or ``max_items``, wrong
        fields, or an item over :data:`MAX_REQUEST_BYTES`.
    """
    if not isinstance(text, str):
        raise PayloadError(f"measure batch must be JSON text, got {type(text).__name__}")
    _check_size("measure batch", len(text.encode("utf-8", "surrogatepass")), max_bytes)
    try:
        d = json.loads(text)
    except ValueError as exc:
        raise PayloadError(f"measure batch is not JSON: {exc}") from None
    if not isinstance(d, dict) or set(d) != {"v", "budget_s", "requests"}:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise PayloadError(
            f"measure batch must be an object with fields ['budget_s', 'requests', 'v'], got {got}"
        )
    if d["v"] != PROTOCOL_VERSION:
        raise PayloadError(f"measure batch protocol v{d['v']!r}, host speaks v{PROTOCOL_VERSION}")
    budget, requests = d["budget_s"], d["requests"]
    if (
        isinstance(budget, bool)
        or not isinstance(budget, int | float)
        or not 0 < budget <= MAX_TIMEOUT_S
    ):
        raise PayloadError(
            f"measure batch: budget_s must be in (0, {MAX_TIMEOUT_S}], got {budget!r:.80}"
        )
    if not isinstance(requests, list) or not requests:
        raise PayloadError("measure batch: requests must be a non-empty list")
    if len(requests) > max_items:
        raise PayloadError(
            f"measure batch has {len(requests)} requests, over the host's limit of "
            f"{max_items} by {len(requests) - max_items}"
        )
    items: list[MeasureRequest | PayloadError] = []
    for k, req in enumerate(requests):
        _check_size(
            f"measure batch item {k}",
            len(canonical_json(req).encode("utf-8", "surrogatepass")),
            MAX_REQUEST_BYTES,
        )
        try:
            items.append(MeasureRequest.from_json(req))
        except PayloadError as exc:
            items.append(PayloadError(f"batch item {k}: {exc}"))
    return float(budget), items
