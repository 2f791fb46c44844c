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


# The one Loihi 1 -> Loihi 2 time factor (see :class:`Timing`): L1 silicon-fit synop 4.7 ns over the
# 1.0 ns PilotNet LIF implies.
L1_TO_L2_TIME: float = 4.7


def _from_l1(l1_ns: float) -> float:
    """An L1 silicon-fit time in ns scaled to Loihi 2 seconds by :data:`L1_TO_L2_TIME`."""
    return round(l1_ns * 1e-9 / L1_TO_L2_TIME, 15)


@dataclass(frozen=True)
class CoreLimits:
    """Per-neurocore resource limits (Lava's "Per core distribution" columns).

    Defaults are the budgets of Lava's Loihi 2 compiler, read off the utilisation tables of the
    lava-dl tutorials (notes/loihi2-silicon.md §5): the limits a Lava-compiled network meets.
    """

    # Lava cost DB: 64 neurons = 1.56 %, 3,584 = 87.52 % of a core (lava-dl mnist/run.ipynb cell
    # 21, yolo_kp/run.ipynb cell 23) -> 4,096. The hardware ceiling is 8,192 (1,048,576 / 128,
    # WikiChip; Intel brief "up to 8,192"): preset ``loihi2_1chip_n8192``.
    max_neurons: int = 4096
    # Lava's Loihi 2 compiler rejects allocations over 12,000 SynMem words per core (LOIHI2.md
    # §1.2/§2, lava-dl PilotNet benchmark logs; confirmed in notes/loihi2-silicon.md §5).
    synmem_words: int = 12000
    # Dense encoding: ceil((n_dst_on_core + dense_extra_synapses) / dense_synapses_per_word) words
    # per input axon, zeros stored. 4 per word: the 66,560 = 2560 x 26 and 12,800 = 2560 x 5
    # allocations (LOIHI2.md §1.2); the +3 fits 100 -> 26, 43 -> 12, 17 -> 5 words (PilotNet
    # cells 13/15, MNIST cell 21; notes §5), i.e. about one word of per-row overhead.
    dense_synapses_per_word: int = 4
    dense_extra_synapses: int = 3
    # Sparse encoding: assumed 2 synapses per word, because a sparse entry stores a 13-bit target
    # index (8192 neurons) next to the 8-bit weight and 6-bit delay that the dense entry packs four
    # to a word.
    sparse_synapses_per_word: int = 2
    # Lava AxonIn budget: 784 = 4.90 %, 128 = 0.80 % (mnist cell 21) -> 16,000 distinct sources.
    max_input_axons: int = 16000
    # Lava AxonMap budget: 64 = 0.40 %, 10 = 0.06 % (mnist cell 21) -> about 16,000 entries, one per
    # source neuron per destination core (PilotNet cell 15). Counted as sum over the core's neurons
    # of the distinct destination cores.
    max_output_axons: int = 16000
    # Lava: 1 neuron group = 12.5 % -> 8 per core. A mapping puts one layer slice (one group) on a
    # core, so this never binds today; it is checked all the same.
    max_neuron_groups: int = 8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            minimum = 0 if f.name == "dense_extra_synapses" else 1
            value = _check_int("CoreLimits", f.name, getattr(self, f.name), minimum)
            object.__setattr__(self, f.name, value)


@dataclass(frozen=True)
class Timing:
    """Time per event (seconds).

    One calibration for every per-event time (the table :data:`CALIBRATION`): the ratios of the
    Loihi 1 silicon fit, scaled to Loihi 2 by ONE factor, :data:`L1_TO_L2_TIME` = 4.7, which maps
    the L1 synop (4.7 ns) to the 1.0 ns per synop that PilotNet LIF's measured step implies on
    Loihi 2 (152.8 us for 150.8 k synops on its busiest core; notes/loihi2-silicon.md §2b).
    Cross-check: Intel's stated 5x synop speed-up over L1 gives 0.62-0.94 ns. Mixing a peak rate
    (Hala Point's 0.37 ns) with L1-sized NoC latencies made the barrier 35-69 % of a step and
    reordered mappings; the old set is preset ``loihi2_1chip_v0``.
    """

    # L1 silicon fit (SANA-FE loihi.yaml) synop sparse 4.7 ns / 4.7 = 1.0 ns (PilotNet bound).
    syn_op_s: float = _from_l1(4.7)
    # L1 neuron access + update 6.0 + 3.7 = 9.7 ns / 4.7.
    neuron_update_s: float = _from_l1(9.7)
    # L1 axon out per message 5.1 ns / 4.7.
    msg_send_s: float = _from_l1(5.1)
    # L1 message in 16 ns / 4.7.
    msg_recv_s: float = _from_l1(16)
    # L1 router hop east-west / north-south (Davies 2018 Table 2, LOIHI2.md §1.4) / 4.7: the same
    # rule as the core costs (no L2 NoC figure is public).
    hop_ew_s: float = _from_l1(4.1)
    hop_ns_s: float = _from_l1(6.5)
    # L1 spike within a tile, i.e. between cores of one router (Davies 2018 Table 2) / 4.7.
    hop_local_s: float = _from_l1(2.1)
    # L1 0.29 ns per 32-bit message per link (3.44 Gspike/s per tile, Davies 2018 Table 2) x 2
    # slots, because a graded-spike message (header + 24-bit payload) is assumed to take 64 bits
    # (LOIHI2.md §6), / 4.7.
    link_msg_s: float = _from_l1(0.58)
    # Own source, not L1-scaled: assumed 8 ns per message per chip-boundary link, because no L2
    # inter-chip figure is public; with the 4-8 boundary links of an 8 x 4 router chip edge this is
    # 0.5-1 G msgs/s (4-8 GB/s at 64 bits) per edge, around Hala Point's average 4.3 GB/s per chip
    # (LOIHI2.md §1.6).
    chip_link_msg_s: float = 8e-9
    # Assumed 200 ns per chip crossing (LOIHI2.md §6, no public number; test 100-500 ns).
    chip_crossing_s: float = 200e-9
    # Input spikes enter through one host port into chip 0 router (0, 0). Its rate is not public;
    # assumed equal to an on-chip link, because a mapping cannot change the host's rate: a
    # pessimistic value would only hide the mapping-dependent terms (PilotNet SDNN was host-I/O
    # bound at 59 ms per frame, ~4 orders of magnitude slower; notes §5).
    host_link_msg_s: float = _from_l1(0.58)
    # Barrier vs active routers, interpolated linearly in log2(routers), flat beyond the last
    # point. Default flat 1.75 us: a small LIF network steps in 1.77 us flat from 5 to 69 cores on
    # Loihi 2 (OzU-CAST LoihiScalingEfficiency, notes §3.2), less its ~20 ns of neuron work. The
    # SANA-FE L1 ramp 0.6/1.0/1.4/1.8 us at 1/2/4/29 routers is preset ``loihi2_1chip_ramp``.
    barrier_routers: tuple[float, ...] = (1.0,)
    barrier_s: tuple[float, ...] = (1.75e-6,)
    # Own source: assumed 0.5 us per chip-boundary crossing on the longest path between active
    # chips (LOIHI2.md §6).
    barrier_per_chip_hop_s: float = 0.5e-6
    # Messages the downstream buffer of every link (router input port, and a sender's injection
    # port) holds; a message advances onto a link only when that buffer has space (credit flow),
    # so a saturated link stalls the links and senders behind it (head-of-line blocking). Assumed
    # 8, because no Loihi 2 router buffer depth is public; range 2-64 (typical NoC input buffers).
    # 0 = unbounded, the pre-back-pressure model (the ``*_v0`` presets, and spec files saved
    # before this field existed).
    link_buffer_msgs: int = 8

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name == "link_buffer_msgs":
                if isinstance(v, numbers.Real) and not isinstance(v, bool) and v == int(v):
                    v = int(v)  # scale_constant gives 4.0 for 8 x 0.5
                v = _check_int("Timing", f.name, v, 0)
            elif f.name in ("barrier_routers", "barrier_s"):
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
    # Measured L2 static power, Oheo Gulch (lava-dl pilotnet benchmark, LOIHI2.md §1.5; 0.282 W in
    # the SDNN run). Charged per USED chip: Lava's accounting convention (the lava-dl notebooks
    # subtract idle chips' static power arithmetically), not measured power gating.
    static_w_per_chip: float = 0.232
    # Time-proportional power per used chip while a workload runs, on top of static (management,
    # barrier, clocks). 0 by default: no source separates it. Variant ``*_running``: 0.238 W, so
    # that static + running = 0.47 W, the total a 5-core LIF run draws on Loihi 2 while stepping at
    # 1.77 us (OzU-CAST LoihiScalingEfficiency power.png, notes/loihi2-silicon.md M3 and §4, "~0.45
    # W" there); an upper bound, since it includes those 5 cores' small dynamic power.
    running_w_per_chip: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check_float("Energy", f.name, getattr(self, f.name)))


# Measured Loihi 2 draw of a near-idle run: 5 cores of a small LIF network stepping at 1.77 us
# draw 0.47 W in total (OzU-CAST LoihiScalingEfficiency, notes/loihi2-silicon.md M3); less the
# 0.232 W static power this is the running-power variant's time-proportional power per used chip.
RUNNING_TOTAL_W: float = 0.47
RUNNING_W_PER_CHIP: float = round(RUNNING_TOTAL_W - Energy.static_w_per_chip, 12)


# Constants whose value is assumed (sensitivity-tested at x0.5 and x2), as "group.field".
ASSUMED_CONSTANTS: tuple[str, ...] = (
    "timing.link_msg_s",
    "timing.chip_link_msg_s",
    "timing.chip_crossing_s",
    "timing.host_link_msg_s",
    "timing.barrier_per_chip_hop_s",
    "timing.neuron_update_s",
    "timing.syn_op_s",
    "timing.msg_send_s",
    "timing.msg_recv_s",
    "timing.link_buffer_msgs",
    "energy.chip_crossing_j",
    "energy.static_w_per_chip",
    "energy.msg_out_j",
    "energy.spike_out_j",
)

# The plausible range of an assumed constant where the evidence gives one (else x0.5 - x2).
# Message and spike energies are L1 silicon-fit values with no Loihi 2 figure: 10-111 pJ, the low
# end being where energy falls with latency as the paper reports (notes/loihi2-silicon.md §4).
ASSUMED_RANGES: dict[str, tuple[float, float]] = {
    "energy.msg_out_j": (10e-12, 111e-12),
    "energy.spike_out_j": (10e-12, 111e-12),
    "energy.static_w_per_chip": (0.232, 0.282),
    "timing.link_buffer_msgs": (2, 64),
}


@dataclass(frozen=True)
class CalibrationRow:
    """One constant of the default calibration: ``"group.field"``, value, unit and its basis."""

    name: str
    value: object
    unit: str
    basis: str


_BASIS: tuple[tuple[str, str, str], ...] = (
    ("topology", "", "8 x 4 routers x 4 cores: Timcheck et al. 2601.10035 v2 [T], L1 tiles"),
    ("limits.max_neurons", "neurons", "Lava L2 compiler budget (mnist/yolo_kp tables); HW 8,192"),
    ("limits.synmem_words", "words", "Lava L2 compiler budget (PilotNet logs)"),
    ("limits.dense_synapses_per_word", "synapses", "66,560 = 2560 x 26 words (PilotNet logs)"),
    ("limits.dense_extra_synapses", "synapses", "ceil((n+3)/4): 100->26, 43->12, 17->5 words"),
    ("limits.sparse_synapses_per_word", "synapses", "assumed: 13-bit index + 8-bit weight + delay"),
    ("limits.max_input_axons", "axons", "Lava AxonIn budget (mnist table)"),
    ("limits.max_output_axons", "entries", "Lava AxonMap budget (mnist table)"),
    ("limits.max_neuron_groups", "groups", "Lava: 1 group = 12.5 % (mnist table)"),
    ("timing.syn_op_s", "s", "L1 fit 4.7 ns / 4.7: PilotNet LIF bound <= 1.01 ns"),
    ("timing.neuron_update_s", "s", "L1 fit 9.7 ns / 4.7"),
    ("timing.msg_send_s", "s", "L1 fit 5.1 ns / 4.7"),
    ("timing.msg_recv_s", "s", "L1 fit 16 ns / 4.7"),
    ("timing.hop_ew_s", "s", "L1 4.1 ns (Davies 2018) / 4.7"),
    ("timing.hop_ns_s", "s", "L1 6.5 ns (Davies 2018) / 4.7"),
    ("timing.hop_local_s", "s", "L1 2.1 ns (Davies 2018) / 4.7"),
    ("timing.link_msg_s", "s", "L1 0.29 ns x 2 (64-bit message, assumed) / 4.7"),
    ("timing.chip_link_msg_s", "s", "assumed; ~Hala Point 4.3 GB/s per chip"),
    ("timing.chip_crossing_s", "s", "assumed (no public figure)"),
    ("timing.host_link_msg_s", "s", "assumed = on-chip link"),
    ("timing.barrier_s", "s", "flat: 1.77 us per step over 5-69 cores (OzU-CAST) less neuron work"),
    ("timing.barrier_routers", "routers", "one point = flat; L1 ramp is loihi2_1chip_ramp"),
    ("timing.barrier_per_chip_hop_s", "s", "assumed"),
    ("timing.link_buffer_msgs", "messages", "assumed (no public figure; 2-64); 0 = unbounded (v0)"),
    ("energy.syn_op_j", "J", "L1 Davies 2018; PilotNet dynamic energy within +4 %"),
    ("energy.neuron_active_j", "J", "L1 Davies 2018"),
    ("energy.neuron_inactive_j", "J", "L1 Davies 2018"),
    ("energy.spike_out_j", "J", "L1 fit (SANA-FE)"),
    ("energy.msg_out_j", "J", "L1 fit (SANA-FE); no L2 figure, 10-111 pJ plausible"),
    ("energy.hop_ew_j", "J", "L1 Davies 2018"),
    ("energy.hop_ns_j", "J", "L1 Davies 2018"),
    ("energy.hop_local_j", "J", "L1 Davies 2018"),
    ("energy.chip_crossing_j", "J", "assumed ~10x an on-chip hop"),
    ("energy.static_w_per_chip", "W", "measured 0.232 W (PilotNet LIF); per used chip (Lava)"),
    ("energy.running_w_per_chip", "W", "0 (unknown); *_running: 0.47 W 5-core run - static"),
)


def calibration_table(hardware: HardwareSpec | None = None) -> tuple[CalibrationRow, ...]:
    """The calibration of ``hardware`` (default: preset ``loihi2_1chip``) as one table.

    Parameters
    ----------
    hardware : HardwareSpec, optional
        Whose values to show; the basis column describes the default calibration.

    Returns
    -------
    tuple of CalibrationRow
        One row per constant (every ``limits``/``timing``/``energy`` field) plus the topology.
    """
    hw = PRESETS["loihi2_1chip"] if hardware is None else hardware
    rows = []
    for name, unit, basis in _BASIS:
        if name == "topology":
            value = f"{hw.routers_x} x {hw.routers_y} x {hw.cores_per_router}"
        else:
            group, field_name = name.split(".")
            value = getattr(getattr(hw, group), field_name)
        rows.append(CalibrationRow(name, value, unit, basis))
    return tuple(rows)


# Fields added by the recalibration (#13), with the value the v0 model behaved as: a spec file
# written before them loads with these values, and they stay out of the key while they hold them.
_POST_V0_FIELDS: dict[str, dict[str, int]] = {
    "limits": {"dense_extra_synapses": 0, "max_neuron_groups": 8},
    "timing": {"link_buffer_msgs": 0},
    "energy": {"running_w_per_chip": 0.0},
}


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
        Cores attached to each router (4 on the calibrated Loihi 2 presets, 1 in the 8 x 16 mesh
        variant).
    limits, timing, energy : CoreLimits, Timing, Energy
        Per-core limits and cost constants.
    """

    name: str = "custom"
    chips_x: int = 1
    chips_y: int = 1
    # Geometry defaults: a plain 8 x 16 mesh with one core per router (what a hand-written spec
    # that names only its mesh gets). The calibrated presets set the chip topology: 8 x 4 routers
    # with 4 cores each (:data:`PRESETS`, docs/simulator.md).
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
                names = {f.name for f in dataclasses.fields(typ)}
                unknown = set(sub) - names
                if unknown:
                    raise ValueError(f"hardware JSON: unknown {key} fields {sorted(unknown)}")
                added = _POST_V0_FIELDS.get(key, {})
                if added and set(sub) == names - set(added):
                    # written by save() before these fields existed: keep what it meant then
                    sub.update(added)
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
        """Hash of every field (equal specs hash equal).

        Fields added since the v0 constants are left out while they hold the value v0 behaved as
        (:data:`_POST_V0_FIELDS`), and a ``*_v0`` preset hashes under its pre-#13 name, so specs and
        presets from before the recalibration keep the key their tuning logs were written with.
        """
        return self._key

    @functools.cached_property
    def _key(self) -> str:
        # cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
        d = self.to_json()
        for group, fields in _POST_V0_FIELDS.items():
            for name, v0 in fields.items():
                if d[group][name] == v0:
                    del d[group][name]
        legacy = self.name.removesuffix("_v0")
        if legacy != self.name and PRESETS.get(self.name) == self:
            d["name"] = legacy
        text = json.dumps(d, sort_keys=True, separators=(",", ":"))
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


def _v0(name: str, **geometry) -> HardwareSpec:
    """The constants before the silicon recalibration (issue #13), so old logs stay reproducible:
    synop 0.37 ns (Hala Point peak) with the other core costs at L1 / 12.7, NoC terms at L1 size,
    the L1 barrier ramp, Loihi 1 limits (8,192 neurons, 4,096 input / output axons) and dense rows
    of ceil(n / 4) words, unbounded link buffers."""
    limits = CoreLimits(
        max_neurons=8192, max_input_axons=4096, max_output_axons=4096, dense_extra_synapses=0
    )
    timing = Timing(
        syn_op_s=0.37e-9,
        neuron_update_s=0.76e-9,
        msg_send_s=0.40e-9,
        msg_recv_s=1.26e-9,
        hop_ew_s=4.1e-9,
        hop_ns_s=6.5e-9,
        hop_local_s=2.1e-9,
        link_msg_s=0.58e-9,
        host_link_msg_s=0.58e-9,
        barrier_routers=(1.0, 2.0, 4.0, 29.0),
        barrier_s=(0.6e-6, 1.0e-6, 1.4e-6, 1.8e-6),
        link_buffer_msgs=0,
    )
    return HardwareSpec(name, limits=limits, timing=timing, **geometry)


# Default chip topology: 8 x 4 routers with 4 cores each. Timcheck, Pierro & Shrestha (Intel Labs,
# arXiv 2601.10035 v2, Sec. II-1; a third-party transcription, the PDF was not readable here) model
# the Loihi 2 NoC as an 8 x 4 router grid with four neurocores per router; Loihi 1 had the same
# 4-core tiles; and the press "8 x 16 mesh" counts 128 cores, which this layout also has. The
# 8 x 16 single-core-router mesh is preset ``loihi2_1chip_mesh16``.
_TILE = {"routers_x": 8, "routers_y": 4, "cores_per_router": 4}
_RUNNING = Energy(running_w_per_chip=RUNNING_W_PER_CHIP)
_RAMP = Timing(barrier_routers=(1.0, 2.0, 4.0, 29.0), barrier_s=(0.6e-6, 1.0e-6, 1.4e-6, 1.8e-6))

PRESETS: dict[str, HardwareSpec] = {
    "loihi2_1chip": HardwareSpec("loihi2_1chip", **_TILE),  # Oheo Gulch (LOIHI2.md §1.6)
    "loihi2_2chip": HardwareSpec("loihi2_2chip", chips_x=2, **_TILE),
    # Kapoho Point: 8 chips (LOIHI2.md §1.6); 2 x 4 layout assumed (LOIHI2.md §6).
    "kapoho_point": HardwareSpec("kapoho_point", chips_x=4, chips_y=2, **_TILE),
    # The default topology under its old variant name (kept so scripts naming it still run).
    "loihi2_1chip_tile4": HardwareSpec("loihi2_1chip_tile4", **_TILE),
    # Variants of the default: 8 x 16 routers of one core (press, unconfirmed); the hardware
    # neuron ceiling instead of Lava's budget; the SANA-FE L1 barrier ramp instead of flat.
    "loihi2_1chip_mesh16": HardwareSpec("loihi2_1chip_mesh16"),
    "loihi2_1chip_n8192": HardwareSpec(
        "loihi2_1chip_n8192", limits=CoreLimits(max_neurons=8192), **_TILE
    ),
    "loihi2_1chip_ramp": HardwareSpec("loihi2_1chip_ramp", timing=_RAMP, **_TILE),
    # Time-proportional running power per used chip on top of static (Energy.running_w_per_chip).
    "loihi2_1chip_running": HardwareSpec("loihi2_1chip_running", energy=_RUNNING, **_TILE),
    "loihi2_2chip_running": HardwareSpec(
        "loihi2_2chip_running", chips_x=2, energy=_RUNNING, **_TILE
    ),
    # The pre-#13 constants and topologies, hashed under their old names (see HardwareSpec.key).
    "loihi2_1chip_v0": _v0("loihi2_1chip_v0"),
    "loihi2_2chip_v0": _v0("loihi2_2chip_v0", chips_x=2),
    "kapoho_point_v0": _v0("kapoho_point_v0", chips_x=4, chips_y=2),
    "loihi2_1chip_tile4_v0": _v0("loihi2_1chip_tile4_v0", **_TILE),
}


# The default calibration as one table (name, value, unit, basis); docs/simulator.md mirrors it.
CALIBRATION: tuple[CalibrationRow, ...] = calibration_table()


def get_preset(name: str) -> HardwareSpec:
    """A hardware preset by name; the error lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(
            f"unknown hardware preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None
