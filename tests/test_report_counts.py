"""Counts shown to users agree in number: "(1 core)", never "(1 cores)" (#15.7)."""

from __future__ import annotations

import numpy as np
from _networks import tiny_network

from tvm_loihi.model.activity import ActivityProfile
from tvm_loihi.model.hardware import get_preset
from tvm_loihi.model.mapping import Mapping
from tvm_loihi.report import figures
from tvm_loihi.report.units import count_of
from tvm_loihi.sim import evaluate


def test_count_of():
    assert count_of(1, "core") == "1 core"
    assert count_of(0, "core") == "0 cores"
    assert count_of(9, "chip") == "9 chips"


def test_utilisation_legend_says_1_core(tmp_path):
    from tvm_loihi.report._mpl import pyplot

    plt = pyplot()
    net = tiny_network((4, 3, 2), seed=0)
    hw = get_preset("loihi2_1chip")
    mapping = Mapping.from_assignment(net, (1, 1), [0, 1])
    act = ActivityProfile((np.ones((2, 4), bool), np.ones((2, 3), bool), np.ones((2, 2), bool)))
    m = evaluate(net, mapping, hw, act)
    fig, ax = plt.subplots()
    figures._utilisation_panel(ax, mapping, m, ["fc0", "fc1"], ["C0", "C1"])
    labels = [h.get_label() for h in ax.get_legend_handles_labels()[0]]
    plt.close(fig)
    assert labels == ["fc0 (1 core)", "fc1 (1 core)"]
