"""Activity profile: which neurons send a graded spike, per layer and sample
(the simulator's input).

Activity is measured, not assumed: it comes from running sample inputs through the bit-exact
reference executor (:meth:`tvm_loihi.model.network.NetworkIR.run_integer`). A neuron "spikes" when
its integer output is non-zero; on Loihi 2 that neuron then sends one graded-spike message to every
core holding one of its non-zero outgoing synapses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from .network import NetworkIR


@dataclass(frozen=True, eq=False)
class ActivityProfile:
    """Spike masks of every population for a batch of samples.

    Parameters
    ----------
    spikes : tuple of numpy.ndarray
        ``spikes[k]`` is a bool array ``(n_samples, layer_sizes[k])``: ``k = 0`` is the network
        input (non-zero quantised inputs), ``k = 1..L`` the outputs of layer ``k``.
    """

    spikes: tuple[np.ndarray, ...]
    _key: list = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        spikes = tuple(np.ascontiguousarray(s, dtype=bool) for s in self.spikes)
        if not spikes or any(s.ndim != 2 or s.shape[0] != spikes[0].shape[0] for s in spikes):
            raise ValueError(
                "activity: every population needs a (n_samples, n_neurons) mask, same n_samples"
            )
        object.__setattr__(self, "spikes", spikes)

    def key(self) -> str:
        """Hash of every spike mask:
        measurements driven by different activity never share a cache entry."""
        if not self._key:
            h = hashlib.sha256(repr(self.layer_sizes).encode())
            for s in self.spikes:
                h.update(np.packbits(s, axis=None).tobytes())
            self._key.append(h.hexdigest()[:16])
        return self._key[0]

    @property
    def n_samples(self) -> int:
        return int(self.spikes[0].shape[0])

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return tuple(int(s.shape[1]) for s in self.spikes)

    def spike_counts(self) -> np.ndarray:
        """``(L + 1,)`` total spikes per population over all samples."""
        return np.array([int(s.sum()) for s in self.spikes], dtype=np.int64)

    def synaptic_ops(self, network: NetworkIR) -> np.ndarray:
        """``(L,)`` synaptic operations per layer over all samples: for every spike into layer
        ``k``, one op per non-zero synapse of the sending neuron."""
        ops = []
        for k, layer in enumerate(network.layers):
            fan_out = np.diff(layer.weights.tocsc().indptr)  # non-zero synapses per input neuron
            ops.append(int(self.spikes[k].sum(axis=0) @ fan_out))
        return np.array(ops, dtype=np.int64)

    def check_matches(self, network: NetworkIR) -> None:
        """Raise ValueError when the profile does not fit ``network``'s population sizes."""
        if self.layer_sizes != network.layer_sizes:
            raise ValueError(
                f"activity profile has populations {self.layer_sizes}, "
                f"network {network.name!r} has "
                f"{network.layer_sizes}"
            )


def activity_profile(network: NetworkIR, x_int: np.ndarray) -> ActivityProfile:
    """Run the reference executor on integer inputs ``(n_samples, n_in)`` and record who spikes."""
    x = np.clip(np.asarray(x_int, dtype=np.int64), network.input_lo, network.input_hi)
    outs = network.run_integer(x)
    return ActivityProfile(tuple([x != 0, *(o != 0 for o in outs)]))


def activity_from_float(network: NetworkIR, x: np.ndarray) -> ActivityProfile:
    """Like :func:`activity_profile` for float inputs,
    quantised with the network's fixed input scale."""
    return activity_profile(network, network.quantize_input(x))
