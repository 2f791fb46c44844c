"""The back-pressure link kernel as it was before the re-use of unchanged links (#13): a slow
reference the compiled :func:`tvm_loihi.sim.kernels.link_queues_bp` must match bit for bit
(``tests/test_backpressure.py``). Every pass recomputes every link."""

from __future__ import annotations

import numpy as np
from numba import njit

from tvm_loihi.sim.kernels import _order, _reich


@njit(cache=True)
def _reich_held(keys, idx, m, sizes, floors, s, depart):
    """:func:`_reich`, where train ``k``'s last message leaves no earlier than ``floors[k]`` (it
    waits upstream for space in the link's downstream buffer; the link serves others meanwhile)."""
    last = _reich(keys, idx, m, sizes, s, depart)
    for k in range(m):
        if floors[k] > depart[m + k]:
            depart[m + k] = floors[k]
            last = max(last, floors[k])
    return last


@njit(cache=True)
def link_queues_bp_reference(
    msgs_tp,
    head,
    tail,
    item_pair,
    item_link,
    item_prev,
    item_next,
    pair_src,
    service,
    latency,
    depth,
    max_iter,
    tol,
    link_done,
    stall,
):
    """:func:`link_queues` with finite link buffers (credit flow), timestep by timestep.

    Every link's downstream buffer holds ``depth`` messages: a message may cross link U into the
    router ahead only when the message ``depth`` places before it has left that buffer (started
    service on its next link L). For a train of ``n > depth`` messages (fluid, leaving L evenly
    between its first and last departure) this puts its last message's arrival at L no earlier
    than the start of service of its message ``n - 1 - depth`` on L. Where that binds, the train's
    last message leaves U that late (a floor on its departure from U; it waits in the buffer
    before U, and so on upstream). While the train fills U's buffer
    (from its first arrival at L until its last crosses U) every other train that crosses U into
    that buffer, bound for any other link, waits behind the ``depth`` messages ahead of it, which
    leave at the blocked train's pace on L (head-of-line blocking; the train that waits longest
    per link and timestep is kept, over the union of such intervals). On a train's
    first link the sender waits: its send window is stretched by the wait (``stall``,
    ``(T, S + 1)``, column 0 the host port, column ``s + 1`` slice ``s``): its other trains' last
    messages arrive that much later (their first ones were sent before the wait, except
    single-message trains); the waiting train itself is paced by the floors downstream (the wait
    is not fed back into the link queues, which would count it twice). Floors only grow, so the
    fixed point is found by repeated passes (at most ``max_iter``; stop when no floor grows by more
    than ``tol`` x the timestep's latest emission and no buffer newly blocks). ``item_*`` are
    sorted by wave and grouped by link as for :func:`link_queues`; ``item_prev`` / ``item_next``
    are the indices of the same pair's previous / next link (-1: none). ``head``/``tail``
    ``(T, P)`` hold emission times on entry and arrival after the last link on exit (as
    :func:`link_queues`).
    """
    T, P = msgs_tp.shape
    n_items = item_pair.shape[0]
    act = np.empty(n_items, dtype=np.int64)
    starts = np.empty(n_items + 1, dtype=np.int64)
    floor = np.zeros(n_items)
    widest = 1
    run = 0
    for i in range(n_items):
        run = run + 1 if i and item_link[i] == item_link[i - 1] else 1
        widest = max(widest, run)
    pairs = np.empty(widest, dtype=np.int64)
    items = np.empty(widest, dtype=np.int64)
    sizes = np.empty(widest)
    floors = np.empty(widest)
    keys = np.empty(2 * widest)
    idx = np.empty(2 * widest, dtype=np.int64)
    tmp = np.empty(2 * widest, dtype=np.int64)
    depart = np.empty(2 * widest)
    h = np.empty(P)
    b = np.empty(P)
    waits = np.zeros(P, dtype=np.bool_)
    n_links = service.shape[0]
    hol_a = np.empty(n_links)  # per link: interval its buffer is full of one blocked train ...
    hol_b = np.empty(n_links)
    hol_d = np.empty(n_links)  # ... the wait behind it
    hol_next = np.empty(n_links, dtype=np.int64)  # and the link that train waits for
    for t in range(T):
        hol_a[:] = np.inf
        hol_b[:] = -np.inf
        hol_d[:] = 0.0
        hol_next[:] = -1
        row = msgs_tp[t]
        na, ng = 0, 0
        for i in range(n_items):
            if row[item_pair[i]] > 0:
                if na == 0 or item_link[i] != item_link[act[na - 1]]:
                    starts[ng] = na
                    ng += 1
                act[na] = i
                floor[i] = 0.0
                na += 1
        starts[ng] = na
        scale = 0.0  # waits below tol x the timestep's latest emission are not worth a pass
        for p in range(P):
            if row[p] > 0:
                scale = max(scale, tail[t, p])
        tol_s = tol * scale
        last_done = 0.0
        for it in range(max_iter):
            for p in range(P):
                h[p] = head[t, p]
                b[p] = tail[t, p]
                waits[p] = False
            stall[t, :] = 0.0
            grew = False
            last_done = 0.0
            for g in range(ng):
                lo, hi = starts[g], starts[g + 1]
                m = hi - lo
                link = item_link[act[lo]]
                s, lat = service[link], latency[link]
                for q in range(m):
                    i = act[lo + q]
                    p = item_pair[i]
                    items[q] = i
                    pairs[q] = p
                    keys[q] = h[p]
                    keys[m + q] = b[p]
                    sizes[q] = row[p]
                    floors[q] = floor[i]
                _order(keys, 2 * m, idx, tmp)
                done = _reich_held(keys, idx, m, sizes, floors, s, depart)
                last_done = max(last_done, done)
                blocked = hol_d[link] > 0.0
                for q in range(m):
                    p, n = pairs[q], sizes[q]
                    hn = depart[q] - s + lat
                    bn = depart[m + q] - s + lat
                    nxt = item_next[items[q]]
                    if blocked and (nxt < 0 or item_link[nxt] != hol_next[link]):
                        if hol_a[link] <= hn <= hol_b[link]:
                            hn += hol_d[link]
                        if hol_a[link] <= bn <= hol_b[link]:
                            bn += hol_d[link]
                    if n > depth:
                        # start of service on this link of the message `depth` before the tail
                        d0 = depart[q] - s
                        need = d0 + (n - 1.0 - depth) / (n - 1.0) * (depart[m + q] - s - d0)
                        prev = item_prev[items[q]]
                        if prev >= 0 and need >= b[p] - tol_s:  # fills the previous link's buffer
                            u = item_link[prev]
                            wait = depth * (depart[m + q] - depart[q]) / (n - 1.0)
                            if hol_d[u] == 0.0:  # a new blocked buffer
                                grew = True
                            hol_d[u] = max(hol_d[u], wait)
                            hol_a[u] = min(hol_a[u], h[p])
                            hol_b[u] = max(hol_b[u], need)
                            hol_next[u] = link
                        if prev >= 0 and need - b[p] > tol_s:  # leave U when it can arrive here
                            grew = True
                            u = item_link[prev]
                            floor[prev] = max(floor[prev], need + service[u] - latency[u])
                        if prev < 0 and need - b[p] > tol_s:  # the sender waits
                            c = pair_src[p] + 1
                            stall[t, c] = max(stall[t, c], need - b[p])
                            waits[p] = True
                    h[p] = hn
                    b[p] = bn
            if not grew or it == max_iter - 1:
                break
        for p in range(P):
            # the sender's other trains: their messages after its wait leave that much later
            w = 0.0 if waits[p] or row[p] == 0 else stall[t, pair_src[p] + 1]
            head[t, p] = h[p] + (w if row[p] == 1 else 0.0)
            tail[t, p] = b[p] + w
        link_done[t] = last_done
