"""What a measurement host measures with: the :class:`MeasurementBackend` interface and the
simulator's implementation (:class:`SimulatorBackend`).

The host functions that serve a backend (:mod:`tvm_loihi.measure.remote`) and the silicon
stand-in (:mod:`tvm_loihi.measure.standin`) both build on this module; it imports neither.
"""

from __future__ import annotations

import abc
import time

from ..constants import FIDELITIES
from ..model.activity import activity_from_float
from ..model.hardware import get_preset
from ..model.mapping import lava_default_mapping
from ..model.quantize import quantize_network
from ..model.workloads import WORKLOADS, float_layers, sample_inputs
from . import backend
from .payload import UploadPayload
from .records import MeasureResult


class MeasurementBackend(abc.ABC):
    """What a measurement host measures with.

    A real Loihi 2 host implements this class and is started with the same RPC entry point
    (``tvm_loihi.rpc_server``), so the tuner, the tracker and the log do not change. The contract:

    * :meth:`prepare` is called once per uploaded workload (network, hardware spec, activity
      profile). A Loihi host would compile the network with Lava here (``lava.magma.compiler``) and
      keep the executable; the mapping then only changes the core assignment.
    * :meth:`measure` runs one mapping and returns a :class:`MeasureResult` with ``latency_s`` =
      total latency of the whole input set (Lava's profiler: time steps x measured step time, plus
      I/O), ``energy_j`` = energy per inference, and ``counters`` with at least
      ``per_sample_latency_s``, ``throughput_sps``, ``cores_used``, ``chips_used``. An infeasible
      mapping is ``MeasureError.INVALID_MAPPING`` (not an exception); any exception becomes
      ``RUNTIME_ERROR``.
    * It must be interruptible: the host raises :class:`MeasureTimeout` (via SIGALRM) in the
      measuring thread when the request's ``timeout_s`` passes; release the board in a ``finally``.
    * :attr:`fidelities` names what it measures (a chip host would use e.g. ``("loihi2",)``);
      requests for other fidelities are refused as ``BAD_PAYLOAD``, and the fidelity is part of
      every cache key.
    """

    name: str = "abstract"
    fidelities: tuple[str, ...] = ()
    # Prefixed to the host label of every result (``"standin"`` -> ``standin@127.0.0.1:9091``).
    label: str = ""

    def prepare(self, workload: UploadPayload) -> object:
        """Per-workload state kept by the session (default: the payload itself)."""
        return workload

    @abc.abstractmethod
    def measure(self, prepared: object, mapping: dict, fidelity: str) -> MeasureResult:
        """Measure one mapping of a prepared workload."""

    def warm_up(self) -> float:
        """Load what every session would otherwise load on its first measurement; called once in
        the host's listen process, before sessions are forked from it. Returns the seconds it took
        (default: nothing to do)."""
        return 0.0


class SimulatorBackend(MeasurementBackend):
    """The Loihi 2 performance simulator, through :mod:`tvm_loihi.measure.backend` (same as
    LocalRunner).

    Parameters
    ----------
    fidelities : tuple of str
        Which simulator fidelities this host serves (``("fast", "event")`` by default).
    """

    name = "simulator"

    def __init__(self, fidelities: tuple[str, ...] = FIDELITIES) -> None:
        unknown = set(fidelities) - set(FIDELITIES)
        if unknown or not fidelities:
            raise ValueError(f"simulator fidelities must be among {FIDELITIES}, got {fidelities}")
        self.fidelities = tuple(fidelities)

    def measure(self, prepared: object, mapping: dict, fidelity: str) -> MeasureResult:
        w: UploadPayload = prepared  # type: ignore[assignment]
        return backend.measure(w.network, w.hardware, w.activity, mapping, fidelity)

    def warm_up(self) -> float:
        """Measure ``mlp_tiny``'s default mapping once per fidelity: the simulator's modules and
        compiled kernels (~2-3 s to load) are then in the listen process, and every forked session
        starts warm instead of paying that on its first measurement (issue #15.5)."""
        start = time.perf_counter()
        spec = WORKLOADS["mlp_tiny"]
        samples = sample_inputs(spec, n_samples=8)
        net = quantize_network(float_layers(spec), calibration=samples, name=spec.name)
        hw = get_preset(spec.hardware)
        act = activity_from_float(net, samples)
        mapping = lava_default_mapping(net, hw).to_json()
        for fidelity in self.fidelities:
            backend.measure(net, hw, act, mapping, fidelity)
        return time.perf_counter() - start
