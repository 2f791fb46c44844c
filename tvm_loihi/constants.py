"""Names that several layers must agree on, each spelled once."""

from __future__ import annotations

# The runtime function every compiled artifact calls, and the function listing its payloads.
RUNTIME_FUNC = "tvm_loihi.run_subgraph"
PAYLOADS_FUNC = "tvm_loihi_payloads"
# The target key (and tag, and relax pipeline name) that selects the Loihi path.
TARGET_KEY = "loihi2"
# The target tags ``import tvm_loihi`` registers and the hardware preset each selects (held here,
# not in compiler.pipeline, so that ``tvm-loihi list`` can show them without the compiler).
TAG_PRESETS = {
    "loihi2": "loihi2_1chip",
    "loihi2-1chip": "loihi2_1chip",
    "loihi2-2chip": "loihi2_2chip",
    "loihi2-kapoho": "kapoho_point",
}
# The device key measurement hosts register under at the tracker.
DEVICE_KEY = "loihi2"
# The simulator fidelities: the max-affine model and the event-level NoC model.
FIDELITIES = ("fast", "event")
# What a measurement host can measure at: the simulator fidelities and the silicon stand-in
# (the event model with hidden constants and noise, :mod:`tvm_loihi.measure.standin`).
STANDIN_FIDELITY = "standin"
MEASURE_FIDELITIES = (*FIDELITIES, STANDIN_FIDELITY)
# Lines a measurement host and a tracker print once they listen (parsed by LocalFarm and tests).
HOST_READY_MARKER = "tvm_loihi.rpc_server ready"
TRACKER_READY_MARKER = "tvm-loihi tracker ready"
