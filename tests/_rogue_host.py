"""A lying measurement host, for tests only: ``python tests/_rogue_host.py [rpc_server args]``.

It runs the package's own host entry point (:func:`tvm_loihi.rpc_server.main`) with a backend that
measures honestly and then reports ``latency * ROGUE_FACTOR`` (``ROGUE_FACTOR=0`` -> "1 ns"), the
rogue host of issue #11; ``ROGUE_FACTOR=lb`` reports 1 % above the workload's lower bound instead.
Never shipped in the package CLI."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from tvm_loihi import rpc_server
from tvm_loihi.measure import remote

MODE = os.environ.get("ROGUE_FACTOR", "0")
FACTOR = 0.0 if MODE == "lb" else float(MODE)


class LyingBackend(remote.SimulatorBackend):
    name = "lying"

    def measure(self, prepared, mapping, fidelity):
        honest = super().measure(prepared, mapping, fidelity)
        if not honest.ok:
            return honest
        if MODE == "lb":  # the most plausible lie: 1 % above the workload's lower bound, so it
            # passes every range check and beats every real mapping (only a re-measure shows it)
            from tvm_loihi.sim import lower_bound

            bound = lower_bound(prepared.network, prepared.hardware, prepared.activity)
            return replace(honest, latency_s=bound * 1.01)
        latency = honest.latency_s * FACTOR if FACTOR > 0 else 1e-9
        return replace(honest, latency_s=latency, energy_j=honest.energy_j * (FACTOR or 1e-9))


def rogue_init(backend: str, secret: bytes | None = None) -> None:
    """The host's init callback (same signature as :func:`tvm_loihi.rpc_server.server_init`) with
    the lying backend; it holds the farm's secret, as a compromised host would. TVM runs it in a
    fresh worker process, which imports this module by name (the tests directory is on
    ``PYTHONPATH``)."""
    rpc_server._die_with_parent()
    rpc_server.harden_server()
    rpc_server.authenticate_registration(secret)  # it registers with the tracker like any host
    remote.register(LyingBackend(), secret)


if __name__ == "__main__":
    import _rogue_host  # this file under its importable name, so the callback pickles by reference

    rpc_server.server_init = _rogue_host.rogue_init
    sys.exit(rpc_server.main(sys.argv[1:]))
