"""Everything about one run that depends on the *partition* (every layer's slice bounds) but not on
where the slices sit: per-timestep core work, message trains and their emission times, placement-
free event counts.

A search evaluates thousands of mappings with the same (network, activity) objects, and many of them
share a partition (placement moves, revisited core counts), so this is computed once per (network,
activity, hardware, partition) and kept in an LRU cache; only routes, links and the barrier are
redone per placement (:mod:`tvm_loihi.sim.mapped`).

Emission model (shared by both fidelities): a core's send pipeline updates its neurons and emits its
messages over one *send window* ``neurons x t_neuron + messages out x t_send``; the ``n`` messages
of a train (one source core -> one destination core in one timestep) are spread evenly over the
window, so the train's first message leaves at ``window / n`` and its last at ``window``. The host
port emits all input messages of a timestep one after another (``host_link_msg_s`` each) in source-
neuron order, so every host train likewise spans the whole host window, followed by the crossing
into chip 0.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from dataclasses import dataclass

import numpy as np

from ..model.activity import ActivityProfile
from ..model.hardware import HardwareSpec
from ..model.lru import LRU
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from .traffic import LayerCounts, layer_counts, pair_traffic

_ENTRIES = 256  # per (network, activity): each entry holds a few (T, P) arrays ...
_BYTES = 1 << 30  # ... and at most this much in all (one mlp_k partition is ~0.4 GB)
_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STRUCTURE_KEYS: dict[str, str] = {}  # hardware key -> key without timing and energy


@dataclass(frozen=True, eq=False)
class PartitionTraffic:
    """Placement-free traffic and work of one partition (arrays over timesteps ``T``, slices ``S``,
    pairs ``P``; pairs are grouped by destination layer, host pairs first).

    Attributes
    ----------
    layers : list of LayerCounts
        Per layer, per-sample counts of its slices.
    pair_layer, pair_src, pair_dst : numpy.ndarray
        ``(P,)`` destination layer, source slice (-1: the host port) and destination slice.
    messages : numpy.ndarray
        ``(T, P)`` messages of every train.
    messages_pt : numpy.ndarray
        ``(P, T)`` C-contiguous copy of ``messages`` (link-load products).
    send, recv : numpy.ndarray
        ``(T, S)`` send-window and receive work of every slice.
    head_ready, tail_ready : numpy.ndarray
        ``(T, P)`` emission time of a train's first / last message (host trains: entry into chip 0);
        ``+inf`` / ``-inf`` where the train is empty.
    work_pt : numpy.ndarray
        ``(P, T)`` receive work of one message of the train (``t_recv + syn ops / n x t_syn``).
    compute_s, host_s : numpy.ndarray
        ``(T,)`` slowest core pipeline and host-port window.
    core_busy_s : numpy.ndarray
        ``(S,)`` busy time of each slice's core over the run.
    dst_order, dst_starts, dst_slices : numpy.ndarray
        Pairs sorted by destination slice, start of each destination's group, and that destination.
    counts : dict
        Placement-free event counts (see :func:`tvm_loihi.sim.energy.event_counts`).
    pair_messages : numpy.ndarray
        ``(P,)`` messages of each pair over the run.
    head_pt, tailw_pt, recv_st : numpy.ndarray
        C-contiguous ``(P, T)`` / ``(S, T)`` copies for the compiled kernels: head emission, tail
        emission plus one message's receive work, receive work.
    """

    n_samples: int
    layer_offsets: np.ndarray
    layers: list[LayerCounts]
    pair_layer: np.ndarray
    pair_src: np.ndarray
    pair_dst: np.ndarray
    messages: np.ndarray
    messages_pt: np.ndarray
    send: np.ndarray
    recv: np.ndarray
    head_ready: np.ndarray
    tail_ready: np.ndarray
    work_pt: np.ndarray
    compute_s: np.ndarray
    host_s: np.ndarray
    core_busy_s: np.ndarray
    dst_order: np.ndarray
    dst_starts: np.ndarray
    dst_slices: np.ndarray
    counts: dict
    pair_messages: np.ndarray
    head_pt: np.ndarray
    tailw_pt: np.ndarray
    recv_st: np.ndarray

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @property
    def n_timesteps(self) -> int:
        return self.n_samples + self.n_layers - 1


def _pairs(network, mapping, hardware, activity, stats):
    n, layers = activity.n_samples, mapping.n_layers
    pairs = [
        pair_traffic(activity, k, mapping.bounds[k - 1] if k else None, mapping.bounds[k], stats[k])
        for k in range(layers)
    ]
    offsets = np.asarray([mapping.layer_offset(k) for k in range(layers + 1)])
    src = np.concatenate(
        [p.src + offsets[k - 1] if k else np.full(len(p.src), -1) for k, p in enumerate(pairs)]
    )
    dst = np.concatenate([p.dst + offsets[k] for k, p in enumerate(pairs)])
    player = np.concatenate([np.full(len(p.src), k) for k, p in enumerate(pairs)])
    steps = n + layers - 1
    msgs = np.zeros((steps, len(src)))
    ops = np.zeros_like(msgs)
    col = 0
    for k, p in enumerate(pairs):
        msgs[k : k + n, col : col + len(p.src)] = p.messages
        ops[k : k + n, col : col + len(p.src)] = p.syn_ops
        col += len(p.src)
    return offsets, src, dst, player, msgs, ops


def core_send_s(timing, neurons, msgs_out):
    """A core's send pipeline in one timestep: every neuron updated, every message emitted.

    Parameters
    ----------
    timing : Timing
        Per-event times.
    neurons, msgs_out : float or numpy.ndarray
        Neurons on the core and messages it sends in the timestep.

    Returns
    -------
    float or numpy.ndarray
        Seconds (``neurons x t_neuron + msgs_out x t_send``).
    """
    return neurons * timing.neuron_update_s + msgs_out * timing.msg_send_s


def core_recv_s(timing, msgs_in, syn_ops):
    """A core's receive pipeline in one timestep (``msgs_in x t_recv + syn_ops x t_syn``).

    Parameters
    ----------
    timing : Timing
        Per-event times.
    msgs_in, syn_ops : float or numpy.ndarray
        Messages the core receives and synaptic operations it does in the timestep.

    Returns
    -------
    float or numpy.ndarray
        Seconds.
    """
    return msgs_in * timing.msg_recv_s + syn_ops * timing.syn_op_s


def _work(
    layers: list[LayerCounts], offsets, n: int, hw: HardwareSpec
) -> tuple[np.ndarray, np.ndarray]:
    t = hw.timing
    steps = n + len(layers) - 1
    neurons = np.concatenate([lc.neurons for lc in layers])
    send = np.repeat(core_send_s(t, neurons, 0.0)[None, :], steps, axis=0)
    recv = np.zeros_like(send)
    for k, lc in enumerate(layers):
        cols = slice(offsets[k], offsets[k + 1])
        recv[k : k + n, cols] = core_recv_s(t, lc.msgs_in, lc.syn_ops)
        if k + 1 < len(layers):
            send[k + 1 : k + 1 + n, cols] += core_send_s(t, 0.0, lc.msgs_out)
    return send, recv


def _emission(src, msgs, ops, send, hw: HardwareSpec):
    """Head / tail emission times, per-message receive work, host window (module docstring)."""
    t = hw.timing
    active = msgs > 0
    safe = np.where(active, msgs, 1.0)
    host = src < 0
    host_s = (msgs * host[None, :]).sum(axis=1) * t.host_link_msg_s
    window = np.where(host[None, :], host_s[:, None], send[:, np.maximum(src, 0)])
    entry = np.where(host, t.chip_crossing_s, 0.0)[None, :]
    head = np.where(active, window / safe + entry, np.inf)
    tail = np.where(active, window + entry, -np.inf)
    work = np.where(active, t.msg_recv_s + ops / safe * t.syn_op_s, 0.0)
    return head, tail, work, host_s


def _counts(layers: list[LayerCounts], pair_messages, player, steps: int) -> dict:
    neurons = sum(float(lc.neurons.sum()) for lc in layers)
    host = float(pair_messages[player == 0].sum())
    return {
        "syn_ops": sum(float(lc.syn_ops.sum()) for lc in layers),
        "dendrite_updates": neurons * steps,  # every neuron is updated every timestep
        "spikes": sum(float(lc.spikes.sum()) for lc in layers),
        "spikes_in": sum(float(lc.msgs_in.sum()) for lc in layers),
        "axon_out": float(pair_messages.sum()),
        "host_messages": host,
    }


def _structure_key(hardware: HardwareSpec) -> str:
    """Hash of everything but the timing and energy constants (and the name): what the counts
    of a partition depend on (limits, geometry). Calibration varies only the constants, so the
    counts are reused across its candidate specs."""
    key = _STRUCTURE_KEYS.get(hardware.key())
    if key is None:
        d = hardware.to_json()
        for group in ("timing", "energy", "name"):
            d.pop(group, None)
        text = json.dumps(d, sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.sha256(text.encode()).hexdigest()[:16]
        if len(_STRUCTURE_KEYS) > 4096:
            _STRUCTURE_KEYS.clear()
        _STRUCTURE_KEYS[hardware.key()] = key
    return key


@dataclass(frozen=True, eq=False)
class _Structure:
    """The timing-free part of a partition's traffic (cached apart from the timed part)."""

    layers: list
    offsets: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    player: np.ndarray
    msgs: np.ndarray
    ops: np.ndarray


def _structure(
    network: NetworkIR, mapping: Mapping, hardware: HardwareSpec, activity: ActivityProfile
) -> _Structure:
    """The timing-free part of :func:`_build`: counts per layer and the message pairs."""
    layers_n = mapping.n_layers
    stats = [mapping.layer_stats(network, hardware, k) for k in range(layers_n)]
    layers = [
        layer_counts(
            activity, k, mapping.bounds[k], stats[k], stats[k + 1] if k + 1 < layers_n else None
        )
        for k in range(layers_n)
    ]
    return _Structure(layers, *_pairs(network, mapping, hardware, activity, stats))


def _build(
    network: NetworkIR,
    mapping: Mapping,
    hardware: HardwareSpec,
    activity: ActivityProfile,
    structure: _Structure | None = None,
) -> PartitionTraffic:
    st = structure if structure is not None else _structure(network, mapping, hardware, activity)
    layers, offsets, src, dst, player, msgs, ops = (
        st.layers,
        st.offsets,
        st.src,
        st.dst,
        st.player,
        st.msgs,
        st.ops,
    )
    layers_n = mapping.n_layers
    n = activity.n_samples
    send, recv = _work(layers, offsets, n, hardware)
    head, tail, work, host_s = _emission(src, msgs, ops, send, hardware)
    pipelines = np.maximum(send, recv)
    order = np.argsort(dst, kind="stable")
    starts = np.flatnonzero(np.diff(dst[order], prepend=-1))
    pair_messages = msgs.sum(axis=0)
    return PartitionTraffic(
        n,
        offsets,
        layers,
        player,
        src,
        dst,
        msgs,
        np.ascontiguousarray(msgs.T),
        send,
        recv,
        head,
        tail,
        np.ascontiguousarray(work.T),
        pipelines.max(axis=1),
        host_s,
        pipelines.sum(axis=0),
        order,
        starts,
        dst[order][starts],
        _counts(layers, pair_messages, player, n + layers_n - 1),
        pair_messages,
        np.ascontiguousarray(head.T),
        np.ascontiguousarray((tail + work).T),
        np.ascontiguousarray(recv.T),
    )


def partition_traffic(
    network: NetworkIR, mapping: Mapping, hardware: HardwareSpec, activity: ActivityProfile
) -> PartitionTraffic:
    """Cached :class:`PartitionTraffic` of ``mapping``'s partition (its placement is ignored)."""
    per_net = _caches.get(network)
    if per_net is None:
        per_net = weakref.WeakKeyDictionary()
        _caches[network] = per_net
    store = per_net.get(activity)
    if store is None:
        store = LRU(_ENTRIES, _BYTES)
        per_net[activity] = store
    key = (hardware.key(), mapping.partition_key())

    def make() -> PartitionTraffic:
        skey = ("structure", _structure_key(hardware), mapping.partition_key())
        structure = store.get_or_make(
            skey, lambda: _structure(network, mapping, hardware, activity)
        )
        return _build(network, mapping, hardware, activity, structure)

    return store.get_or_make(key, make)
