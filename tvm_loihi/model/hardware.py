"""The spatial hardware a network is mapped onto: chips, NoC mesh, per-core limits, timing and
energy.

Every constant carries its source (see ../shared/LOIHI2.md, cited by section) or says "assumed,
because ...". Assumed constants are listed in :data:`ASSUMED_CONSTANTS`; the simulator tests check
that mapping rankings hold when each of them is halved or doubled.

Geometry
--------
Chips sit on a ``chips_x x chips_y`` grid (chip ``c`` at ``(c % chips_x, c // chips_x)``). Each
chip is a ``routers_x x routers_y`` mesh of routers with ``cores_per_router`` cores each. A global
core id ``g`` is ``chip = g // cores_per_chip``, then row-major over the chip's routers
(``router = y * routers_x + x``) with the slot fastest. The NoC of all chips forms one global mesh
routed X then Y; a link whose two routers sit on different chips is a chip-to-chip link (its own
latency, bandwidth and energy).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

# Largest system a spec may describe, checked before anything is allocated per core (a typo such as
# ``routers_x: 1000000`` would otherwise allocate gigabytes). 2**20 cores is 7x Hala Point's
# 140,544 (LOIHI2.md §1.6), so every real Loihi 2 system fits.
MAX_CORES: int = 1 << 20


def _check_int(owner: str, name: str, value, minimum: int = 1) -> int:
    """``value`` as an ``int`` >= ``minimum``; bools, strings and floats are rejected by name."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{owner}.{name} must be an integer >= {minimum}, got {value!r} "
            f"({type(value).__name__})"
        )
    if value < minimum:
        raise ValueError(f"{owner}.{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_float(owner: str, name: str, value) -> float:
    """``value`` as a finite ``float`` >= 0; bools, strings, NaN and infinity are rejected."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{owner}.{name} must be a finite number >= 0, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{owner}.{name} must be a finite number >= 0, got {value}")
    return float(value)


@dataclass(frozen=True)
class CoreLimits:
    """Per-neurocore resource limits (Lava's "Per core distribution" columns)."""

    # 1,048,576 neurons / 128 cores (LOIHI2.md §1.2, WikiChip).
    max_neurons: int = 8192
    # Lava's Loihi 2 compiler rejects allocations over 12,000 SynMem words per core (LOIHI2.md
    # §1.2/§2, lava-dl PilotNet benchmark logs).
    synmem_words: int = 12000
    # Dense encoding: ceil(n_dst_on_core / 4) words per input axon, zeros stored (LOIHI2.md §1.2:
    # inferred from the 66,560 = 2560 x 26 and 12,800 = 2560 x 5 allocations in the lava-dl logs).
    dense_synapses_per_word: int = 4
    # Sparse encoding: assumed 2 synapses per word, because a sparse entry stores a 13-bit target
    # index (8192 neurons) next to the 8-bit weight and 6-bit delay that the dense entry packs four
    # to a word.
    sparse_synapses_per_word: int = 2
    # Loihi 1 N_axin = 4096 (Davies 2018 p.89); Loihi 2 not published, assumed unchanged
    # (LOIHI2.md §6).
    max_input_axons: int = 4096
    # Loihi 1 N_axout = 4096 core-to-core fan-out edges (Davies 2018 p.89); assumed unchanged for
    # Loihi 2 (LOIHI2.md §6). Counted as sum over the core's neurons of the distinct destination
    # cores.
    max_output_axons: int = 4096

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = _check_int("CoreLimits", f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)


@dataclass(frozen=True)
class Timing:
    """Time per event (seconds)."""

    # Per-event times must come from ONE consistent calibration: their ratios decide which term
    # binds, so mixing an L2 peak synop rate with L1 per-message overheads (12.7x slower hardware)
    # would make the per-message receive cost look 43x a synop where the L1 silicon fit says 3.4x.
    # We take the RATIOS of the L1 silicon fit (SANA-FE loihi.yaml: synop sparse 4.7 ns, message in
    # 16 ns, axon out 5.1 ns, neuron access + update 6.0 + 3.7 ns; LOIHI2.md §1.4) and scale them to
    # Loihi 2 by the one L2 rate that is public: Hala Point's peak 380e12 synops/s over 140,544
    # cores = 0.37 ns per synop (LOIHI2.md §1.4), i.e. L2 = L1 / 12.7. Cross-check: the scaled
    # neuron update (0.76 ns) is within 30 % of Hala Point's independent 240e12 neuron-ops/s figure
    # (0.59 ns). Assumed scaling: all are sensitivity-tested.
    syn_op_s: float = 0.37e-9
    # L1 neuron access + update 9.7 ns / 12.7 (see above); Hala Point peak gives 0.59 ns.
    neuron_update_s: float = 0.76e-9
    # L1 axon out per message 5.1 ns / 12.7 (see above).
    msg_send_s: float = 0.40e-9
    # L1 message in 16 ns / 12.7 (see above).
    msg_recv_s: float = 1.26e-9
    # L1 router hop east-west / north-south (Davies 2018 Table 2, LOIHI2.md §1.4): a latency, not a
    # rate, so it is not scaled (no L2 figure is public).
    hop_ew_s: float = 4.1e-9
    hop_ns_s: float = 6.5e-9
    # L1 spike within a tile, i.e. between cores of one router (Davies 2018 Table 2).
    hop_local_s: float = 2.1e-9
    # 0.29 ns per 32-bit message per link (L1 3.44 Gspike/s per tile, Davies 2018 Table 2) x 2
    # slots, because a graded-spike message (header + 24-bit payload) is assumed to take 64 bits
    # (LOIHI2.md §6).
    link_msg_s: float = 0.58e-9
    # Assumed, because no L2 inter-chip figure is public: 8 ns per message per chip-boundary link;
    # with the 8-16 parallel boundary links of an 8 x 16 chip edge this is 1-2 G msgs/s per edge,
    # above Hala Point's average 4.3 GB/s per chip (LOIHI2.md §1.6) and well below the on-chip link
    # rate.
    chip_link_msg_s: float = 8e-9
    # Assumed 200 ns per chip crossing (LOIHI2.md §6, no public number; test 100-500 ns).
    chip_crossing_s: float = 200e-9
    # Input spikes enter through one host port into chip 0 router (0, 0). Its rate is not public;
    # assumed equal to an on-chip link, because a mapping cannot change the host's rate: a
    # pessimistic value would only hide the mapping-dependent terms (PilotNet SDNN was host-I/O
    # bound, LOIHI2.md §3).
    host_link_msg_s: float = 0.58e-9
    # Barrier vs active routers: SANA-FE L1 silicon fit 0.6/1.0/1.4/1.8 us at 1/2/4/29 (LOIHI2.md
    # §1.3, §6), interpolated linearly in log2(routers), flat beyond 29.
    barrier_routers: tuple[float, ...] = (1.0, 2.0, 4.0, 29.0)
    barrier_s: tuple[float, ...] = (0.6e-6, 1.0e-6, 1.4e-6, 1.8e-6)
    # Assumed 0.5 us per chip-boundary crossing on the longest path between active chips
    # (LOIHI2.md §6).
    barrier_per_chip_hop_s: float = 0.5e-6

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("barrier_routers", "barrier_s"):
                if isinstance(v, str | bytes) or not hasattr(v, "__iter__"):
                    raise ValueError(f"Timing.{f.name} must be a list of numbers, got {v!r}")
                v = tuple(_check_float("Timing", f"{f.name}[{i}]", x) for i, x in enumerate(v))
            else:
                v = _check_float("Timing", f.name, v)
            object.__setattr__(self, f.name, v)
        if len(self.barrier_routers) != len(self.barrier_s) or not self.barrier_s:
            raise ValueError("Timing: barrier_routers and barrier_s need the same, non-zero length")
        if self.barrier_routers[0] < 1 or any(np.diff(self.barrier_routers) <= 0):
            raise ValueError(
                f"Timing.barrier_routers must increase from >= 1, got {self.barrier_routers}"
            )

    def barrier(self, active_routers: int, chip_span: int) -> float:
        """Barrier time for ``active_routers`` routers in use whose chips span ``chip_span`` chip
        hops."""
        x = np.log2(max(1.0, float(active_routers)))
        xs = np.log2(np.asarray(self.barrier_routers))
        return float(np.interp(x, xs, self.barrier_s)) + chip_span * self.barrier_per_chip_hop_s


@dataclass(frozen=True)
class Energy:
    """Energy per event (joules) and static power (watts)."""

    # L1 Davies 2018 Table 2 minimum (LOIHI2.md §6; L2 not published, range 10-35.5 pJ).
    syn_op_j: float = 23.6e-12
    # L1 Davies 2018 Table 2: active (spiking) 81 pJ, inactive 52 pJ.
    neuron_active_j: float = 81e-12
    neuron_inactive_j: float = 52e-12
    # L1 silicon fit (SANA-FE): spike out 69.3 pJ per spiking neuron, axon out 111 pJ per message.
    spike_out_j: float = 69.3e-12
    msg_out_j: float = 111e-12
    # L1 Davies 2018 Table 2 per hop east-west / north-south, and within a tile.
    hop_ew_j: float = 3.0e-12
    hop_ns_j: float = 4.0e-12
    hop_local_j: float = 1.7e-12
    # Assumed ~10x an on-chip hop, because no L2 inter-chip figure is public (LOIHI2.md §6).
    chip_crossing_j: float = 35e-12
    # Measured L2 static power, Oheo Gulch (lava-dl pilotnet benchmark, LOIHI2.md §1.5); unused
    # chips are assumed power-gated, because Lava's profiler attributes static power per chip of
    # the partition.
    static_w_per_chip: float = 0.232

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_float("Energy", f.name, getattr(self, f.name)))


# Constants whose value is assumed (sensitivity-tested at x0.5 and x2), as "group.field".
ASSUMED_CONSTANTS: tuple[str, ...] = (
    "timing.link_msg_s", "timing.chip_link_msg_s", "timing.chip_crossing_s",
    "timing.host_link_msg_s",
    "timing.barrier_per_chip_hop_s", "timing.neuron_update_s", "timing.syn_op_s",
    "timing.msg_send_s", "timing.msg_recv_s",
    "energy.chip_crossing_j", "energy.static_w_per_chip",
)


@dataclass(frozen=True)
class HardwareSpec:
    """A spatial chip system: geometry, per-core limits, timing and energy.

    Parameters
    ----------
    name : str
        Preset or user name.
    chips_x, chips_y : int
        Chip grid.
    routers_x, routers_y : int
        Router mesh of one chip.
    cores_per_router : int
        Cores attached to each router (1 on the default Loihi 2 model, 4 in the L1-tile variant).
    limits, timing, energy : CoreLimits, Timing, Energy
        Per-core limits and cost constants.
    """

    name: str = "loihi2_1chip"
    chips_x: int = 1
    chips_y: int = 1
    # 8 x 16 mesh of 128 cores per chip, 1 core per router: press, unconfirmed (LOIHI2.md §1.1,
    # §6) - assumed.
    routers_x: int = 8
    routers_y: int = 16
    cores_per_router: int = 1
    limits: CoreLimits = field(default_factory=CoreLimits)
    timing: Timing = field(default_factory=Timing)
    energy: Energy = field(default_factory=Energy)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"HardwareSpec.name must be a non-empty string, got {self.name!r}")
        owner = f"HardwareSpec {self.name!r}"
        for f in ("chips_x", "chips_y", "routers_x", "routers_y", "cores_per_router"):
            object.__setattr__(self, f, _check_int(owner, f, getattr(self, f)))
        # checked before anything is allocated per core (core_coords, the simulator's arrays)
        if self.n_cores > MAX_CORES:
            raise ValueError(
                f"{owner}: {self.chips_x} x {self.chips_y} chips of {self.routers_x} x "
                f"{self.routers_y} routers x {self.cores_per_router} cores = {self.n_cores} cores, "
                f"above the limit of MAX_CORES = {MAX_CORES}"
            )
        for group, typ in (("limits", CoreLimits), ("timing", Timing), ("energy", Energy)):
            if not isinstance(getattr(self, group), typ):
                raise ValueError(
                    f"{owner}: {group} must be a {typ.__name__}, got {getattr(self, group)!r}"
                )

    @property
    def n_chips(self) -> int:
        return self.chips_x * self.chips_y

    @property
    def routers_per_chip(self) -> int:
        return self.routers_x * self.routers_y

    @property
    def cores_per_chip(self) -> int:
        return self.routers_per_chip * self.cores_per_router

    @property
    def n_cores(self) -> int:
        return self.n_chips * self.cores_per_chip

    @property
    def mesh_shape(self) -> tuple[int, int]:
        """``(width, height)`` of the global router mesh (all chips)."""
        return self.chips_x * self.routers_x, self.chips_y * self.routers_y

    def to_json(self) -> dict:
        """Plain JSON data (nested groups)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> HardwareSpec:
        """Inverse of :meth:`to_json`; unknown keys raise (a typo must not silently use a
        default)."""
        if not isinstance(d, dict):
            raise ValueError(f"hardware JSON: expected an object of fields, got {type(d).__name__}")
        d = dict(d)
        groups = {"limits": CoreLimits, "timing": Timing, "energy": Energy}
        for key, typ in groups.items():
            if key in d:
                if not isinstance(d[key], dict):
                    raise ValueError(
                        f"hardware JSON: {key} must be an object of fields, got {d[key]!r}"
                    )
                sub = dict(d[key])
                unknown = set(sub) - {f.name for f in dataclasses.fields(typ)}
                if unknown:
                    raise ValueError(f"hardware JSON: unknown {key} fields {sorted(unknown)}")
                d[key] = typ(**{k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()})
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"hardware JSON: unknown fields {sorted(unknown)}")
        return cls(**d)

    def save(self, path: str) -> None:
        """Write :meth:`to_json` to ``path``."""
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=2, sort_keys=True)

    @classmethod
    def load(cls, path: str) -> HardwareSpec:
        """Read a file written by :meth:`save` (or hand-written in the same format)."""
        with open(path) as f:
            return cls.from_json(json.load(f))

    def key(self) -> str:
        """Hash of every field (equal specs hash equal)."""
        return self._key

    @functools.cached_property
    def _key(self) -> str:
        # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
        text = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def replace_constant(self, dotted: str, value: float) -> HardwareSpec:
        """A copy with ``"group.field"`` (e.g. ``"timing.hop_ew_s"``) set to ``value``."""
        group, name = dotted.split(".")
        sub = dataclasses.replace(getattr(self, group), **{name: value})
        return dataclasses.replace(self, **{group: sub})

    def scale_constant(self, dotted: str, factor: float) -> HardwareSpec:
        """A copy with ``"group.field"`` multiplied by ``factor`` (for sensitivity studies)."""
        group, name = dotted.split(".")
        return self.replace_constant(dotted, getattr(getattr(self, group), name) * factor)


def core_coords(hardware: HardwareSpec) -> np.ndarray:
    """``(n_cores, 4)`` int array ``[chip, x, y, slot]`` per global core id (x, y on the chip's
    mesh)."""
    g = np.arange(hardware.n_cores, dtype=np.int64)
    chip, local = np.divmod(g, hardware.cores_per_chip)
    router, slot = np.divmod(local, hardware.cores_per_router)
    y, x = np.divmod(router, hardware.routers_x)
    return np.stack([chip, x, y, slot], axis=1)


def global_router_xy(hardware: HardwareSpec) -> np.ndarray:
    """``(n_cores, 2)`` position of each core's router on the global (all-chip) mesh."""
    c = core_coords(hardware)
    cy, cx = np.divmod(c[:, 0], hardware.chips_x)
    return np.stack([cx * hardware.routers_x + c[:, 1], cy * hardware.routers_y + c[:, 2]], axis=1)


PRESETS: dict[str, HardwareSpec] = {
    "loihi2_1chip": HardwareSpec("loihi2_1chip"),  # Oheo Gulch (LOIHI2.md §1.6)
    "loihi2_2chip": HardwareSpec("loihi2_2chip", chips_x=2),
    # Kapoho Point: 8 chips (LOIHI2.md §1.6); 2 x 4 layout assumed (LOIHI2.md §6).
    "kapoho_point": HardwareSpec("kapoho_point", chips_x=4, chips_y=2),
    # Sensitivity variant: L1-style tiles of 4 cores per router on an 8 x 4 router grid
    # (LOIHI2.md §6).
    "loihi2_1chip_tile4": HardwareSpec(
        "loihi2_1chip_tile4", routers_x=8, routers_y=4, cores_per_router=4
    ),
}


def get_preset(name: str) -> HardwareSpec:
    """A hardware preset by name; the error lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown hardware preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None
