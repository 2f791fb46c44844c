"""Shared fixtures of the RPC tests: a real farm (tracker and measurement hosts on 127.0.0.1).

``farm`` is one :class:`~tvm_loihi.measure.tracker.LocalFarm` per test module (``FARM_HOSTS = n``
in the module sets its size, default 2); ``session`` is one authenticated session on one of its
hosts, as the dict of its ``tvm_loihi.remote.*`` functions, released after the test. The helpers
for farms started through the CLI are in ``tests/_farm.py``.
"""

from __future__ import annotations

import pytest

SESSION_FUNCS = ("version", "upload", "has", "measure", "measure_batch")


@pytest.fixture(scope="module")
def farm(request):
    from tvm_loihi.measure.tracker import LocalFarm

    with LocalFarm(n_hosts=getattr(request.module, "FARM_HOSTS", 2)) as f:
        yield f


@pytest.fixture
def session(farm):
    from tvm_loihi.measure.rpc_runner import request_session

    sess = request_session(farm.tracker_addr, farm.key, session_timeout_s=60, timeout_s=30)
    funcs = {n: sess.get_function(f"tvm_loihi.remote.{n}") for n in SESSION_FUNCS}
    try:
        yield funcs
    finally:
        funcs.clear()
        del sess  # release the host at once (a forgotten session keeps it busy)
