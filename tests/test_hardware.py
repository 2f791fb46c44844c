"""HardwareSpec: geometry, presets, JSON round trip, barrier table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tvm_loihi.model.hardware import (
    ASSUMED_CONSTANTS,
    MAX_CORES,
    PRESETS,
    HardwareSpec,
    core_coords,
    get_preset,
    global_router_xy,
)


def test_presets_geometry():
    one, two, kp = (
        get_preset("loihi2_1chip"),
        get_preset("loihi2_2chip"),
        get_preset("kapoho_point"),
    )
    assert (one.n_cores, one.cores_per_chip, one.n_chips) == (128, 128, 1)
    assert (two.n_cores, two.n_chips) == (256, 2)
    assert (kp.n_cores, kp.n_chips, kp.chips_x, kp.chips_y) == (1024, 8, 4, 2)
    tile = get_preset("loihi2_1chip_tile4")
    assert (tile.n_cores, tile.routers_per_chip, tile.cores_per_router) == (128, 32, 4)
    with pytest.raises(KeyError, match="known"):
        get_preset("loihi3")


def test_core_coords_row_major_slot_fastest():
    hw = get_preset("loihi2_1chip_tile4")
    c = core_coords(hw)
    assert c.shape == (128, 4)
    assert c[0].tolist() == [0, 0, 0, 0] and c[3].tolist() == [0, 0, 0, 3]
    assert c[4].tolist() == [0, 1, 0, 0]  # next router east
    assert c[4 * 8].tolist() == [0, 0, 1, 0]  # first router of the next row
    kp = get_preset("kapoho_point")  # 8 x 4 routers x 4 cores per chip
    ck = core_coords(kp)
    assert ck[128].tolist() == [1, 0, 0, 0] and ck[1023].tolist() == [7, 7, 3, 3]
    xy = global_router_xy(kp)
    # chip 5 sits at (1, 1) on the 4 x 2 chip grid; 4 cores share each of the 256 routers
    assert xy[5 * 128].tolist() == [8, 4]
    assert len(np.unique(xy[:, 0] * 1000 + xy[:, 1])) == 256
    kp16 = get_preset("kapoho_point_v0")  # 8 x 16 routers x 1 core per chip
    ck = core_coords(kp16)
    assert ck[128].tolist() == [1, 0, 0, 0] and ck[1023].tolist() == [7, 7, 15, 0]
    xy = global_router_xy(kp16)
    assert xy[5 * 128].tolist() == [8, 16]
    assert len(np.unique(xy[:, 0] * 1000 + xy[:, 1])) == 1024


def test_json_round_trip_and_key(tmp_path):
    for hw in PRESETS.values():
        back = HardwareSpec.from_json(json.loads(json.dumps(hw.to_json())))
        assert back == hw and back.key() == hw.key()
    hw = get_preset("kapoho_point")
    path = tmp_path / "hw.json"
    hw.save(str(path))
    assert HardwareSpec.load(str(path)) == hw
    assert get_preset("loihi2_1chip").key() != get_preset("loihi2_2chip").key()
    bad = hw.to_json()
    bad["timing"]["hop_ew"] = 1.0
    with pytest.raises(ValueError, match="hop_ew"):
        HardwareSpec.from_json(bad)


def test_validation_on_construction():
    with pytest.raises(ValueError, match="routers_x"):
        HardwareSpec(routers_x=0)
    hw = get_preset("loihi2_1chip")
    with pytest.raises(ValueError, match="syn_op_s"):
        hw.replace_constant("timing.syn_op_s", -1.0)


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"routers_x": "8"}, "routers_x must be an integer >= 1, got '8' (str)"),
        ({"chips_x": True}, "chips_x must be an integer >= 1, got True (bool)"),
        ({"routers_y": 16.0}, "routers_y must be an integer >= 1, got 16.0 (float)"),
        ({"cores_per_router": 0}, "cores_per_router must be >= 1, got 0"),
        ({"limits": {"max_neurons": "8192"}}, "CoreLimits.max_neurons must be an integer"),
        ({"timing": {"syn_op_s": float("nan")}}, "Timing.syn_op_s must be a finite number >= 0"),
        ({"timing": {"hop_ew_s": "4e-9"}}, "Timing.hop_ew_s must be a finite number >= 0"),
        ({"energy": {"syn_op_j": float("inf")}}, "Energy.syn_op_j must be a finite number"),
        ({"energy": {"static_w_per_chip": None}}, "static_w_per_chip"),
        ({"timing": {"barrier_s": [1e-6, "x", 1e-6, 1e-6]}}, "Timing.barrier_s[1]"),
        (
            {"timing": {"barrier_routers": [0, 2, 4, 29], "barrier_s": [1e-6] * 4}},
            "barrier_routers must increase from",
        ),
        ({"timing": {"barrier_routers": [1, 2]}}, "need the same, non-zero length"),
        ({"timing": "fast"}, "timing must be an object of fields"),
        ({"name": 7}, "name must be a non-empty string"),
    ],
)
def test_json_value_types_are_checked(data, fragment):
    with pytest.raises(ValueError) as err:
        HardwareSpec.from_json(data)
    assert fragment in str(err.value)


def test_mesh_size_is_capped_before_any_allocation():
    # 10**6 x 16 routers would be 16 M cores (core_coords alone: 512 MB); refused on construction
    limit = f"16000000 cores, above the limit of MAX_CORES = {MAX_CORES}"
    with pytest.raises(ValueError, match=limit):
        HardwareSpec.from_json({"routers_x": 10**6})
    side = int(MAX_CORES**0.5)  # exactly at the cap is accepted
    assert HardwareSpec("cap", routers_x=side, routers_y=side).n_cores == MAX_CORES
    # numpy integers and floats (what a script computing a spec passes) are accepted
    hw = HardwareSpec("np", routers_x=np.int64(4), routers_y=np.int32(2))
    assert type(hw.routers_x) is int and hw.n_cores == 8
    assert get_preset("loihi2_1chip").replace_constant("timing.syn_op_s", np.float64(1e-9))


def test_barrier_flat_by_default():
    t = get_preset("loihi2_1chip").timing
    # measured 1.77 us per step flat over 5-69 cores (OzU-CAST), less ~20 ns of neuron work
    for routers in (1, 2, 5, 17, 32):
        assert t.barrier(routers, 0) == pytest.approx(1.75e-6)
    assert t.barrier(32, 1) == pytest.approx(1.75e-6 + t.barrier_per_chip_hop_s)


def test_barrier_table_and_chip_span():
    t = get_preset("loihi2_1chip_ramp").timing
    assert get_preset("loihi2_1chip_v0").timing.barrier_s == t.barrier_s
    assert t.barrier(1, 0) == pytest.approx(0.6e-6)
    assert t.barrier(4, 0) == pytest.approx(1.4e-6)
    assert t.barrier(128, 0) == pytest.approx(1.8e-6)
    assert t.barrier(2, 0) < t.barrier(3, 0) < t.barrier(4, 0)
    assert t.barrier(128, 2) == pytest.approx(1.8e-6 + 2 * t.barrier_per_chip_hop_s)


def test_scale_constant_touches_only_that_constant():
    hw = get_preset("loihi2_1chip")
    for name in ASSUMED_CONSTANTS:
        group, field = name.split(".")
        s = hw.scale_constant(name, 2.0)
        assert getattr(getattr(s, group), field) == pytest.approx(
            2 * getattr(getattr(hw, group), field)
        )
        assert s.key() != hw.key()


def test_v0_presets_keep_their_old_hardware_keys(tmp_path):
    """Tuning logs written before the recalibration name these keys; the v0 presets reproduce
    them (and so does a spec file saved from the old preset, which lacks the new fields)."""
    old = {
        "loihi2_1chip_v0": "3c987e26c054d887",
        "loihi2_2chip_v0": "05bd6e94374823b1",
        "kapoho_point_v0": "bd466ad98779e988",
        "loihi2_1chip_tile4_v0": "e5b9a2c451332400",
    }
    for name, key in old.items():
        assert get_preset(name).key() == key
    legacy = get_preset("loihi2_1chip_v0").to_json()
    legacy["name"] = "loihi2_1chip"
    for field in ("dense_extra_synapses", "max_neuron_groups"):
        del legacy["limits"][field]
    spec = HardwareSpec.from_json(legacy)
    assert spec.limits.dense_extra_synapses == 0 and spec.key() == old["loihi2_1chip_v0"]
    # the new default is a different calibration, so a different key
    assert len({get_preset(n).key() for n in PRESETS}) == len(PRESETS)
    assert get_preset("loihi2_1chip").key() not in old.values()


def test_one_calibration_table_covers_every_constant():
    from tvm_loihi.model.hardware import CALIBRATION, L1_TO_L2_TIME, calibration_table

    names = [row.name for row in CALIBRATION]
    hw = get_preset("loihi2_1chip")
    fields = [
        f"{g}.{f}"
        for g in ("limits", "timing", "energy")
        for f in type(getattr(hw, g)).__dataclass_fields__
    ]
    assert sorted(names) == sorted(["topology", *fields])
    assert len(names) == len(set(names))
    # every L1-derived time is divided by the same factor
    t = hw.timing
    l1_ns = {
        "syn_op_s": 4.7,
        "neuron_update_s": 9.7,
        "msg_send_s": 5.1,
        "msg_recv_s": 16,
        "hop_ew_s": 4.1,
        "hop_ns_s": 6.5,
        "hop_local_s": 2.1,
        "link_msg_s": 0.58,
    }
    for name, l1 in l1_ns.items():
        assert getattr(t, name) == pytest.approx(l1 * 1e-9 / L1_TO_L2_TIME)
    assert t.syn_op_s == pytest.approx(1.0e-9)
    lim = hw.limits
    assert (lim.max_neurons, lim.max_input_axons, lim.max_output_axons, lim.max_neuron_groups) == (
        4096,
        16000,
        16000,
        8,
    )
    assert get_preset("loihi2_1chip_n8192").limits.max_neurons == 8192
    assert (hw.routers_x, hw.routers_y, hw.cores_per_router) == (8, 4, 4)
    mesh = get_preset("loihi2_1chip_mesh16")
    assert (mesh.routers_x, mesh.routers_y, mesh.cores_per_router) == (8, 16, 1)
    v0 = {r.name: r.value for r in calibration_table(get_preset("loihi2_1chip_v0"))}
    assert v0["timing.syn_op_s"] == 0.37e-9 and v0["limits.max_neurons"] == 8192
    # docs/simulator.md mirrors the table: one row per constant
    import pathlib

    doc = (pathlib.Path(__file__).parent.parent / "docs" / "simulator.md").read_text()
    for name in names:
        assert f"| {name} |" in doc, name
