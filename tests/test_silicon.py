"""Silicon regression: the default calibration against the public Loihi 2 measurements.

Every figure and its source is in ``../shared/notes/loihi2-silicon.md`` (cited by section). The
per-core model is the simulator's own (:func:`tvm_loihi.sim.partition.core_send_s` /
``core_recv_s``, :func:`tvm_loihi.sim.energy.dynamic_energy`); the mappings are
:func:`tvm_loihi.model.mapping.lava_default_mapping`; the floor runs the fast model end to end.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps

from tvm_loihi.model.activity import ActivityProfile
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping, lava_default_mapping
from tvm_loihi.model.network import Layer, NetworkIR
from tvm_loihi.sim import evaluate
from tvm_loihi.sim.energy import dynamic_energy
from tvm_loihi.sim.partition import core_recv_s, core_send_s

# PilotNet LIF on one Oheo Gulch chip (lava-dl pilotnet_snn/benchmark.ipynb; notes §1, §1.1):
# 74 cores, 408.91 inferences/s of 16 steps -> 152.8 us per step; 1.094 mJ dynamic energy per
# inference -> 68.3 uJ per step.
PILOTNET_STEP_S = 152.8e-6
PILOTNET_DYNAMIC_J = 68.3e-6
PILOTNET_NEURONS = 158_509
# Per core and step, read off the activity plots (notes §1.1): (cores, synops, spikes in, axon
# out, dendrite updates). Dendrite updates are ~2 per neuron per step plus ~1 per output spike.
PILOTNET_CORES = {
    "conv5": (2, 49e3, 400, 1500, 4300),
    "conv4": (3, 52e3, 430, 0, 4300),
    "conv3": (3, 150.8e3, 2150, 430, 5800),
    "conv2": (13, 131e3, 2580, 650, 4950),
    "conv1": (25, 0.0, 0, 1290, 7320),
    "input": (13, 0.0, 0, 0, 6460),
}
# Whole-chip totals per step (notes §1.1).
PILOTNET_TOTALS = {"syn_ops": 2.28e6, "dendrite_updates": 3.70e5, "axon_out": 4.31e4}


def _pilotnet_step_s(hardware) -> float:
    """The per-core model's step: the slowest core's pipeline (send and receive run concurrently)
    plus the barrier of the 74 cores' routers."""
    t = hardware.timing
    slowest = 0.0
    for _cores, synops, msgs_in, msgs_out, dendrites in PILOTNET_CORES.values():
        neurons = (dendrites - msgs_out) / 2
        slowest = max(slowest, core_send_s(t, neurons, msgs_out), core_recv_s(t, msgs_in, synops))
    routers = -(-74 // hardware.cores_per_router)
    return slowest + t.barrier(routers, 0)


def test_pilotnet_step_time_within_30_percent():
    """The busiest core (conv3: 150.8 k synops, 2.15 k input messages per step) bounds the step.
    Default: 159.9 us (+4.6 %). The v0 constants (0.37 ns synops, Hala Point's peak rate) gave
    60.0 us (-61 %), which is what the recalibration fixed."""
    step = _pilotnet_step_s(get_preset("loihi2_1chip"))
    assert step == pytest.approx(PILOTNET_STEP_S, rel=0.30)
    old = _pilotnet_step_s(get_preset("loihi2_1chip_v0"))
    assert old < 0.5 * PILOTNET_STEP_S


def test_pilotnet_dynamic_energy_within_20_percent():
    """Dynamic energy per step from the measured totals, with the simulator's energy table.

    Neuron updates: one per neuron per step (the model's convention), so ``dendrite_updates`` is
    the neuron count; spiking neurons are the dendrite updates beyond two per neuron (notes §1.1:
    ~2 per neuron plus ~1 per output spike), about 53 k. Hops are left out (routes unknown; at 3-4
    pJ over a few hops per message they are < 1 uJ). Predicted 72.0 uJ against 68.3 measured."""
    spikes = PILOTNET_TOTALS["dendrite_updates"] - 2 * PILOTNET_NEURONS
    counts = {
        "syn_ops": PILOTNET_TOTALS["syn_ops"],
        "dendrite_updates": PILOTNET_NEURONS,
        "spikes": spikes,
        "axon_out": PILOTNET_TOTALS["axon_out"],
        "hops_ew": 0.0,
        "hops_ns": 0.0,
        "hops_local": 0.0,
        "chip_crossings": 0.0,
        "host_messages": 0.0,
    }
    joules = sum(dynamic_energy(get_preset("loihi2_1chip").energy, counts).values())
    assert joules == pytest.approx(PILOTNET_DYNAMIC_J, rel=0.20)


def _network(sizes: tuple[int, ...], density: float, seed: int, name: str) -> NetworkIR:
    rng = np.random.default_rng(seed)
    layers = []
    for k in range(len(sizes) - 1):
        shape = (sizes[k + 1], sizes[k])
        w = rng.integers(1, 60, shape) * (rng.random(shape) < density)
        layers.append(
            Layer(
                f"fc{k}",
                sps.csr_matrix(w.astype(np.int8)),
                4,
                np.zeros(shape[0]),
                relu=k < len(sizes) - 2,
            )
        )
    return NetworkIR(tuple(layers), name=name)


def test_lava_mnist_compile_core_counts():
    """lava-dl netx MNIST 784-128-64-10 (mnist/run.ipynb cell 21) compiles to 3 + 1 + 1 cores.
    The 128-neuron layer needs 3: 43 neurons per core take ceil((43 + 3) / 4) = 12 words per
    input axon, 784 x 12 = 9,408 <= 12,000 SynMem words, while 2 cores need 784 x 17 = 13,328."""
    net = _network((784, 128, 64, 10), 1.0, 0, "mnist_784_128_64_10")
    assert lava_default_mapping(net, get_preset("loihi2_1chip")).cores_per_layer == (3, 1, 1)


def test_lava_pilotnet_dense_core_count():
    """PilotNet's dense 2560 -> 100 layer took 12 cores in Lava's compile (pilotnet_snn cell 15);
    ``lava_default_mapping`` gives 8, and the difference is not ours to close with a limit.

    Lava's 12 cores hold 8-9 neurons and 2.83 SynMem words per input axon on average (notes §5),
    i.e. 2,560 x 2.83 = 7,245 words, 60 % of the 12,000-word budget, with 2,560 input axons
    (16 % of AxonIn) and 8-9 neurons (0.2 % of the neuron budget): no per-core limit we know of is
    near binding at 12 cores. With the fewest cores that meet the limits (what Lava's compiler is
    documented to do and what the model implements), 12-13 neurons per core need
    ceil((13 + 3) / 4) = 4 words per axon, 10,240 words, so 8 cores fit and 7 (14-15 neurons,
    5 words, 12,800 > 12,000) do not. The extra 4 cores come from a rule of Lava's partitioner that
    is not public (a fill target, or the layer's other weight precision). The test pins 8 and
    checks that the model is never more conservative than the compiler.
    """
    net = _network((2560, 100, 50, 10, 1), 1.0, 0, "pilotnet_dense")
    cores = lava_default_mapping(net, get_preset("loihi2_1chip")).cores_per_layer
    assert cores == (8, 1, 1, 1)
    assert cores[0] <= 12


def _floor_steps(hardware) -> list[float]:
    """Median fast-model step of a small two-population network (E 80 %, I 20 %, host spike
    generators = a quarter of the neurons, 10 % connection density, 5 % of neurons spiking per step:
    a winner-take-all has few winners; the run's activity is not published) at 200 / 400 / 800 /
    1,200 neurons on 5 / 17 / 41 / 69 cores, the span of the OzU-CAST runs."""
    out = []
    for n, cores in ((200, 5), (400, 17), (800, 41), (1200, 69)):
        net = _network((n // 4, int(0.8 * n), n - int(0.8 * n)), 0.1, 0, f"wta{n}")
        rng = np.random.default_rng(1)
        act = ActivityProfile(tuple(rng.random((16, s)) < 0.05 for s in net.layer_sizes))
        e_cores = round(0.8 * cores)
        m = Mapping.from_assignment(net, (e_cores, cores - e_cores), np.arange(cores))
        out.append(float(np.median(evaluate(net, m, hardware, act).timesteps["step_s"])))
    return out


def test_small_network_floor_flat_within_25_percent():
    """OzU-CAST LoihiScalingEfficiency (notes M3, §3.2): a small LIF network steps in 1.77 us,
    flat from 5 to 69 cores. Default: 1.97-2.07 us (+11 % to +17 %), flat within 5 %. The v0
    barrier ramp (0.6 us at one router) and L1-sized NoC gave 1.67 -> 2.44 us, growing 46 %."""
    steps = _floor_steps(get_preset("loihi2_1chip"))
    for s in steps:
        assert s == pytest.approx(1.77e-6, rel=0.25)
    assert max(steps) / min(steps) < 1.10
    old = _floor_steps(get_preset("loihi2_1chip_v0"))
    assert max(old) / min(old) > 1.3


def test_static_energy_per_used_chip_and_per_board():
    """Lava's convention charges static power per used chip; the board draws it on all 8 chips
    (lava-dl subtracts idle chips arithmetically, notes §4): both are reported."""
    net = _network((64, 96, 10), 0.5, 0, "small")
    act = ActivityProfile(
        tuple(np.random.default_rng(2).random((4, s)) < 0.2 for s in net.layer_sizes)
    )
    hw = get_preset("kapoho_point")
    r = evaluate(net, lava_default_mapping(net, hw), hw, act)
    static = r.energy_breakdown_j["static_j"]
    assert r.chips_used == 1 and static == pytest.approx(0.232 * r.total_latency_s)
    assert r.static_board_j == pytest.approx(8 * static)
    assert r.energy_board_j == pytest.approx(r.energy_j + 7 * static)
    assert r.to_json(detail=False)["energy_per_inference_board_j"] == pytest.approx(
        r.energy_board_j / 4
    )


def test_message_and_spike_energies_are_assumed_with_their_range():
    from tvm_loihi.model.hardware import ASSUMED_CONSTANTS, ASSUMED_RANGES

    for name in ("energy.msg_out_j", "energy.spike_out_j"):
        assert name in ASSUMED_CONSTANTS
        assert ASSUMED_RANGES[name] == (10e-12, 111e-12)
    assert set(ASSUMED_RANGES) <= set(ASSUMED_CONSTANTS)


def test_running_power_variant_adds_the_measured_draw_of_a_running_chip():
    """Variant ``*_running``: time-proportional power per used chip while running, on top of the
    0.232 W static, so that the two make 0.47 W, the total a 5-core LIF run draws stepping at
    1.77 us (OzU-CAST LoihiScalingEfficiency, notes M3 and §4). It only adds
    ``chips_used x 0.238 W x latency``: latencies are unchanged and the energy change of a faster
    mapping falls by 0.238 W x (its chips x latency - the other's), i.e. it moves towards
    "energy falls with latency" wherever chips x latency falls."""
    from tvm_loihi.model.hardware import RUNNING_TOTAL_W, RUNNING_W_PER_CHIP, HardwareSpec

    assert RUNNING_TOTAL_W == 0.47
    default, running = get_preset("loihi2_1chip"), get_preset("loihi2_1chip_running")
    assert running.energy.static_w_per_chip + running.energy.running_w_per_chip == pytest.approx(
        RUNNING_TOTAL_W
    )
    assert RUNNING_W_PER_CHIP == pytest.approx(0.238)
    assert default.energy.running_w_per_chip == 0.0
    # the default presets keep their hardware keys; spec files without the field load as before
    d = default.to_json()
    del d["energy"]["running_w_per_chip"]
    assert HardwareSpec.from_json(d) == default and HardwareSpec.from_json(d).key() == default.key()
    assert running.key() != default.key()

    net = _network((64, 96, 96, 10), 0.5, 0, "small")
    act = ActivityProfile(
        tuple(np.random.default_rng(2).random((8, s)) < 0.2 for s in net.layer_sizes)
    )
    compact = lava_default_mapping(net, default)
    spread = Mapping.from_assignment(net, (12, 12, 4), np.arange(28))
    runs = {}
    for name, hw in (("default", default), ("running", running)):
        for label, m in (("compact", compact), ("spread", spread)):
            runs[name, label] = evaluate(net, m, hw, act)
    for label in ("compact", "spread"):
        a, b = runs["default", label], runs["running", label]
        assert a.total_latency_s == b.total_latency_s
        assert b.energy_breakdown_j["running_j"] == pytest.approx(
            b.chips_used * 0.238 * b.total_latency_s
        )
        assert a.energy_breakdown_j["running_j"] == 0.0
        assert b.energy_j == pytest.approx(a.energy_j + b.energy_breakdown_j["running_j"])
    sd, sr = runs["default", "spread"], runs["running", "spread"]
    cd, cr = runs["default", "compact"], runs["running", "compact"]
    assert sd.total_latency_s < cd.total_latency_s  # spreading is faster here
    shift = 0.238 * (sd.total_latency_s - cd.total_latency_s)  # one chip both
    assert (sr.energy_j - cr.energy_j) == pytest.approx(sd.energy_j - cd.energy_j + shift)
    assert sr.energy_j - cr.energy_j < sd.energy_j - cd.energy_j
