"""tune()'s option groups (tuning/options.py) and the deprecated flat keywords they replace."""

from __future__ import annotations

import warnings

import pytest
from _networks import tiny_network

from tvm_loihi.model.hardware import HardwareSpec
from tvm_loihi.tuning import (
    RacingOptions,
    VerifyOptions,
    WarmStartOptions,
    default_activity,
    tune,
)

NET = tiny_network((24, 16, 8), seed=7, density=0.5, name="options_test")
HW = HardwareSpec("mesh3x3", routers_x=3, routers_y=3)
ACT = default_activity(NET, HW, n_samples=8)


def _summary(res):
    return (
        res.history,
        res.best_mapping.to_json(),
        res.best_result.latency_s,
        res.default_result.latency_s,
        [(m.to_json(), r.latency_s) for m, r in res.verified],
        res.max_energy_increase,
        None if res.fastest is None else res.fastest[1].latency_s,
        res.repeats,
    )


def test_flat_keywords_give_the_groups_result_and_warn():
    common = dict(strategy="ga", budget=16, seed=3, activity=ACT)
    grouped = tune(
        NET,
        HW,
        **common,
        verify=VerifyOptions("event", 3, 0.2),
        racing=RacingOptions(repeats=2, confidence=0.9),
    )
    with pytest.warns(DeprecationWarning, match="verify_fidelity= -> verify=VerifyOptions"):
        flat = tune(
            NET,
            HW,
            **common,
            verify_fidelity="event",
            verify_top_k=3,
            max_energy_increase=0.2,
            repeats=2,
            confidence=0.9,
        )
    assert _summary(flat) == _summary(grouped)
    assert grouped.verify_fidelity == "event" and grouped.verify_evaluations >= 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the groups alone do not warn
        plain = tune(NET, HW, **common)
    assert plain.verified == () and plain.max_energy_increase is None


def test_a_group_given_twice_or_an_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="not both"):
        tune(NET, HW, budget=2, activity=ACT, verify=VerifyOptions("event"), verify_top_k=2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'verify_topk'"):
        tune(NET, HW, budget=2, activity=ACT, verify_topk=2)
    with pytest.raises(TypeError, match="racing must be a RacingOptions"):
        tune(NET, HW, budget=2, activity=ACT, racing=3)


def test_groups_check_their_values_on_construction():
    with pytest.raises(ValueError, match="verify_top_k must be >= 1"):
        VerifyOptions("event", top_k=0)
    VerifyOptions(None, top_k=0)  # no verification: top_k unused, as before
    with pytest.raises(ValueError, match="max_increase"):
        VerifyOptions(max_energy_increase=-0.1)
    with pytest.raises(TypeError, match="repeats must be 'auto' or an integer"):
        RacingOptions(repeats="often")
    with pytest.raises(TypeError, match="sequence of paths"):
        WarmStartOptions("one.jsonl")
    assert WarmStartOptions(["a.jsonl"]).logs == ("a.jsonl",)
