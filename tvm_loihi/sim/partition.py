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
from ..model.hardware import HardwareSpec, Timing
from ..model.lru import LRU
from ..model.mapping import Mapping
from ..model.network import NetworkIR
from .kernels import emission
from .traffic import LayerCounts, layer_counts, pair_traffic

_ENTRIES = 256  # per (network, activity): each entry holds a few (T, P) arrays ...
_BYTES = 1 << 30  # ... and at most this much in all (one mlp_k partition is ~0.25 GB)
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
    messages_pt : numpy.ndarray
        ``(P, T)`` messages of every train (``messages`` is its ``(T, P)`` copy, made on demand).
    send, recv : numpy.ndarray
        ``(T, S)`` send-window and receive work of every slice.
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
    head_pt, tailw_pt : numpy.ndarray
        ``(P, T)`` emission time of a train's first message (host trains: its entry into chip 0;
        ``+inf`` where the train is empty), and of its last message plus one message's receive
        work (``-inf`` where empty). ``head_ready`` / ``tail_ready`` are the ``(T, P)`` first and
        last emission times the event model starts from, made on demand.
    recv_st : numpy.ndarray
        ``(S, T)`` copy of ``recv`` for the compiled kernels.
    timing : Timing
        The per-event times these arrays were built with.

    Only the arrays both timing models read are kept (one mlp_k partition holds ~90,000 pairs x
    70 timesteps per array); the ``(T, P)`` views only the event model needs are rebuilt per call.
    """

    n_samples: int
    layer_offsets: np.ndarray
    layers: list[LayerCounts]
    pair_layer: np.ndarray
    pair_src: np.ndarray
    pair_dst: np.ndarray
    messages_pt: np.ndarray
    send: np.ndarray
    recv: np.ndarray
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
    timing: Timing

    @property
    def messages(self) -> np.ndarray:
        """``(T, P)`` messages of every train (a fresh C-contiguous copy)."""
        return np.ascontiguousarray(self.messages_pt.T)

    @property
    def head_ready(self) -> np.ndarray:
        """``(T, P)`` emission time of every train's first message (a fresh array)."""
        return np.ascontiguousarray(self.head_pt.T)

    @property
    def tail_ready(self) -> np.ndarray:
        """``(T, P)`` emission time of every train's last message (host trains: its entry into
        chip 0; ``-inf`` where empty; a fresh array)."""
        src = self.pair_src
        window = np.where(src[None, :] < 0, self.host_s[:, None], self.send[:, np.maximum(src, 0)])
        entry = np.where(src < 0, self.timing.chip_crossing_s, 0.0)[None, :]
        return np.where(self.messages_pt.T > 0, window + entry, -np.inf)

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
    msgs = np.zeros((len(src), steps))  # (P, T): the kernels run over contiguous timesteps
    ops = np.zeros_like(msgs)
    row = 0
    for k, p in enumerate(pairs):
        msgs[row : row + len(p.src), k : k + n] = p.messages.T
        ops[row : row + len(p.src), k : k + n] = p.syn_ops.T
        row += len(p.src)
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
    """``(P, T)`` head emission, tail emission plus receive work, per-message receive work, and
    the ``(T,)`` host window (module docstring)."""
    t = hw.timing
    host_s = msgs[src < 0].sum(axis=0) * t.host_link_msg_s
    head, tailw, work = np.empty_like(msgs), np.empty_like(msgs), np.empty_like(msgs)
    emission(
        src, msgs, ops, send, host_s, t.chip_crossing_s, t.msg_recv_s, t.syn_op_s, head, tailw, work
    )
    return head, tailw, work, host_s


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
    """The timing-free part of a partition's traffic (cached apart from the timed part); ``msgs``
    and ``ops`` are ``(P, T)``."""

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
    head, tailw, work, host_s = _emission(src, msgs, ops, send, hardware)
    pipelines = np.maximum(send, recv)
    order = np.argsort(dst, kind="stable")
    starts = np.flatnonzero(np.diff(dst[order], prepend=-1))
    pair_messages = msgs.sum(axis=1)
    return PartitionTraffic(
        n,
        offsets,
        layers,
        player,
        src,
        dst,
        msgs,
        send,
        recv,
        work,
        pipelines.max(axis=1),
        host_s,
        pipelines.sum(axis=0),
        order,
        starts,
        dst[order][starts],
        _counts(layers, pair_messages, player, n + layers_n - 1),
        pair_messages,
        head,
        tailw,
        np.ascontiguousarray(recv.T),
        hardware.timing,
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
