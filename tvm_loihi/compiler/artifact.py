"""Read back what a compiled ``loihi2`` artifact offloads: payloads (network metadata + mapping).

The lowering adds an exported Relax function ``tvm_loihi_payloads`` returning every payload string,
so the information survives ``export_library`` -> ``load_module`` and needs no parsing of the VM
constant pool.
"""

from __future__ import annotations

import json

import tvm
from tvm import relax

from ..constants import PAYLOADS_FUNC
from ..model.argcheck import check_type


def _vm(artifact, func: str) -> relax.VirtualMachine:
    check_type(
        func,
        "artifact",
        artifact,
        (relax.VirtualMachine, relax.VMExecutable, tvm.runtime.Module, str),
        "what tvm.compile returns, or an exported library's path",
    )
    if isinstance(artifact, relax.VirtualMachine):
        return artifact
    if isinstance(artifact, str):
        artifact = tvm.runtime.load_module(artifact)
    return relax.VirtualMachine(artifact, tvm.cpu())


def read_payloads(artifact) -> list[dict]:
    """Every offloaded network's payload, in lowering order.

    Parameters
    ----------
    artifact : relax.VMExecutable, runtime.Module, relax.VirtualMachine or str
        The result of ``tvm.compile``, a loaded module, a VM, or the path of an exported library.

    Returns
    -------
    list of dict
        Payload dicts with keys ``function``, ``workload_key``, ``network``
        (``NetworkIR.meta_json()``), and ``mapping`` / ``hardware`` when present. Empty when nothing
        was offloaded.
    """
    return _payloads(artifact, "read_payloads")


def _payloads(artifact, caller: str) -> list[dict]:
    vm = _vm(artifact, caller)
    try:
        func = vm[PAYLOADS_FUNC]
    except AttributeError:  # "Module has no function": nothing was offloaded
        return []
    return [json.loads(str(p)) for p in func()]


def read_mappings(artifact) -> list[dict]:
    """Per offloaded network: ``{"network": name, "workload_key": ..., "mapping": dict | None}``."""
    return [
        {
            "network": p["network"]["name"],
            "function": p["function"],
            "workload_key": p["workload_key"],
            "layer_sizes": [
                p["network"]["layers"][0]["shape"][1],
                *(layer["shape"][0] for layer in p["network"]["layers"]),
            ],
            "mapping": p.get("mapping"),
        }
        for p in _payloads(artifact, "read_mappings")
    ]
