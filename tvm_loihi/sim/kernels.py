"""Compiled (numba) inner loops of the two timing models.

The fast model's per-mapping terms are a handful of passes over ``(P, T)`` arrays and the mesh;
numpy would spend most of its time in call overhead and strided prefix sums, so they are fused here.
The event model's link queues and receive queues are sequential by nature (a FIFO's departure
depends on the previous one), so they are loops over message *trains* (never over messages). Arrays
are ``(pairs, timesteps)`` so every inner loop runs over contiguous timesteps.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _order(keys, m, out, tmp):
    """Indices sorting ``keys[:m]`` ascending into ``out[:m]``, stable, no allocation: insertion
    sort of runs of 16, then bottom-up merges through ``tmp`` (at least ``m`` long)."""
    run = 16
    for lo in range(0, m, run):
        hi = min(lo + run, m)
        for i in range(lo, hi):
            k = keys[i]
            j = i
            while j > lo and keys[out[j - 1]] > k:
                out[j] = out[j - 1]
                j -= 1
            out[j] = i
    width = run
    src, dst = out, tmp
    while width < m:
        for lo in range(0, m, 2 * width):
            mid, hi = min(lo + width, m), min(lo + 2 * width, m)
            i, j, o = lo, mid, lo
            while i < mid and j < hi:
                if keys[src[j]] < keys[src[i]]:
                    dst[o] = src[j]
                    j += 1
                else:
                    dst[o] = src[i]
                    i += 1
                o += 1
            while i < mid:
                dst[o] = src[i]
                i += 1
                o += 1
            while j < hi:
                dst[o] = src[j]
                j += 1
                o += 1
        src, dst = dst, src
        width *= 2
    if src is not out:
        out[:m] = src[:m]


@njit(cache=True)
def _reinsert(keys, m, prev, out, budget):
    """Sort ``keys[:m]`` into ``out[:m]`` as :func:`_order` does (ascending, ties by index) by
    insertion from ``prev``, the order of nearly the same keys: linear when few keys moved. Gives
    up (returns False) after ``budget`` moves or on a NaN key."""
    moves = 0
    for i in range(m):
        e = prev[i]
        k = keys[e]
        if k != k:
            return False
        j = i
        while j > 0:
            f = out[j - 1]
            if keys[f] > k or (keys[f] == k and f > e):
                out[j] = f
                j -= 1
                moves += 1
            else:
                break
        if moves > budget:
            return False
        out[j] = e
    return True


@njit(cache=True)
def _before(keys, a, b):
    """Whether element ``a`` sorts before ``b``: ascending key, ties by index."""
    return keys[a] < keys[b] or (keys[a] == keys[b] and a < b)


@njit(cache=True)
def _order_from(keys, m, prev, out, tmp):
    """:func:`_order`'s permutation of ``keys[:m]`` (ascending, ties by index) found from
    ``prev``, the order of nearly the same keys: insertion sort of runs of 16 of ``prev``, then
    bottom-up merges that copy a pair of runs already in order; at most :func:`_order`'s work.
    Returns False on a NaN key (then only :func:`_order`'s own order is defined)."""
    run = 16
    for lo in range(0, m, run):
        hi = min(lo + run, m)
        for i in range(lo, hi):
            e = prev[i]
            if keys[e] != keys[e]:
                return False
            j = i
            while j > lo and _before(keys, e, out[j - 1]):
                out[j] = out[j - 1]
                j -= 1
            out[j] = e
    width = run
    src, dst = out, tmp
    while width < m:
        for lo in range(0, m, 2 * width):
            mid, hi = min(lo + width, m), min(lo + 2 * width, m)
            if mid >= hi or _before(keys, src[mid - 1], src[mid]):
                for o in range(lo, hi):
                    dst[o] = src[o]
                continue
            i, j, o = lo, mid, lo
            while i < mid and j < hi:
                if _before(keys, src[j], src[i]):
                    dst[o] = src[j]
                    j += 1
                else:
                    dst[o] = src[i]
                    i += 1
                o += 1
            while i < mid:
                dst[o] = src[i]
                i += 1
                o += 1
            while j < hi:
                dst[o] = src[j]
                j += 1
                o += 1
        src, dst = dst, src
        width *= 2
    if src is not out:
        out[:m] = src[:m]
    return True


@njit(cache=True)
def _order_events(keys, m, last, out, half, tmp, reuse):
    """Sort the ``2m`` events (first arrivals ``keys[:m]``, last arrivals ``keys[m:]``) into
    ``out`` as :func:`_order` does (ascending, ties by index). Each half is sorted on its own
    into ``last`` (``2m``: the first then the last arrivals' order, kept for the next call) and
    the two merged: on a tie the first arrival, the lower index, goes first, so the order is the
    one stable sort of all ``2m``. With ``reuse``, ``last`` holds the halves' orders from a call on
    nearly the same keys, and each half is re-sorted by insertion from it (linear when few keys
    moved); after ``8m`` moves by a merge sort seeded with it (:func:`_order_from`; a fresh
    :func:`_order` cost 5-7 % more bounded-kernel time on random mlp_b2 mappings)."""
    for side in range(2):
        k = keys[side * m : (side + 1) * m]
        order = last[side * m : (side + 1) * m]
        if reuse and _reinsert(k, m, order, half, 8 * m):
            order[:] = half[:m]
        elif reuse and _order_from(k, m, order, half, tmp):
            order[:] = half[:m]
        else:
            _order(k, m, order, tmp)
    i, j, o = 0, 0, 0
    while i < m and j < m:
        if keys[m + last[m + j]] < keys[last[i]]:
            out[o] = m + last[m + j]
            j += 1
        else:
            out[o] = last[i]
            i += 1
        o += 1
    while i < m:
        out[o] = last[i]
        i += 1
        o += 1
    while j < m:
        out[o] = m + last[m + j]
        j += 1
        o += 1


@njit(cache=True)
def _route_diff(diff, m, x0, y0, x1, y1, gw, cells):
    """Add pair weights ``m`` (T,) to the difference array at both ends of its X and Y segments."""
    if x1 != x0:
        d = 0 if x1 > x0 else 1
        r0, r1 = d * cells + y0 * gw + x0, d * cells + y0 * gw + x1
        for t in range(m.shape[0]):
            diff[r0, t] += m[t]
            diff[r1, t] -= m[t]
    if y1 != y0:
        d = 2 if y1 > y0 else 3
        r0, r1 = d * cells + y0 * gw + x1, d * cells + y1 * gw + x1
        for t in range(m.shape[0]):
            diff[r0, t] += m[t]
            diff[r1, t] -= m[t]


@njit(cache=True)
def _scan_links(diff, gw, gh, service, busiest, totals):
    """Prefix-sum the difference array along each link's direction; busiest link per timestep."""
    cells = gw * gh
    T = diff.shape[1]
    run = np.zeros(T)
    for d in range(4):
        outer = gh if d < 2 else gw
        inner = gw if d < 2 else gh
        for o in range(outer):
            run[:] = 0.0
            for i0 in range(inner):
                i = i0 if d % 2 == 0 else inner - 1 - i0
                cell = d * cells + (o * gw + i if d < 2 else i * gw + o)
                s = service[cell]
                acc = 0.0
                for t in range(T):
                    run[t] += diff[cell, t]
                    acc += run[t]
                    if run[t] * s > busiest[t]:
                        busiest[t] = run[t] * s
                totals[cell] = acc


@njit(cache=True)
def emission(src, msgs_pt, ops_pt, send, host_s, crossing_s, recv_s, syn_s, head, tailw, work):
    """Fill ``(P, T)`` head emission, tail emission plus one message's receive work, and that work
    (:mod:`tvm_loihi.sim.partition`'s emission model): a train of ``n`` messages from a core spans
    its send window ``send[t, src]`` (host trains: the host window, then the crossing into chip 0),
    its first message leaving at ``window / n``; empty trains get ``+inf`` / ``-inf`` / 0."""
    P, T = msgs_pt.shape
    for p in range(P):
        s = src[p]
        for t in range(T):
            n = msgs_pt[p, t]
            if n > 0:
                if s < 0:
                    window, entry = host_s[t], crossing_s
                else:
                    window, entry = send[t, s], 0.0
                w = recv_s + ops_pt[p, t] / n * syn_s
                head[p, t] = window / n + entry
                tailw[p, t] = (window + entry) + w
                work[p, t] = w
            else:
                head[p, t] = np.inf
                tailw[p, t] = -np.inf
                work[p, t] = 0.0


@njit(cache=True)
def fast_terms(msgs_pt, tailw_pt, head_pt, recv_st, dst, arrive, x0, y0, x1, y1, gw, gh, service):
    """Busiest link (T,), latest train completion / receive start (T,), run link loads (links,)."""
    P, T = msgs_pt.shape
    cells = gw * gh
    diff = np.zeros((4 * cells, T))
    flight = np.zeros(T)
    first = np.full((recv_st.shape[0], T), np.inf)
    for p in range(P):
        a, j = arrive[p], dst[p]
        for t in range(T):
            v = tailw_pt[p, t] + a
            if v > flight[t]:
                flight[t] = v
            h = head_pt[p, t] + a
            if h < first[j, t]:
                first[j, t] = h
        _route_diff(diff, msgs_pt[p], x0[p], y0[p], x1[p], y1[p], gw, cells)
    for j in range(recv_st.shape[0]):
        for t in range(T):
            if first[j, t] < np.inf and first[j, t] + recv_st[j, t] > flight[t]:
                flight[t] = first[j, t] + recv_st[j, t]
    busiest = np.zeros(T)
    totals = np.zeros(4 * cells)
    _scan_links(diff, gw, gh, service, busiest, totals)
    return busiest, flight, totals


@njit(cache=True)
def link_queues(
    msgs_pt, msgs_tp, head, tail, item_pair, item_link, group_starts, service, latency, link_done
):
    """Push every train through its links in acyclic XY order (``item_*`` sorted by wave, grouped by
    link).

    Each link is a FIFO over *messages* of all trains crossing it in that timestep. A train's first
    and last messages arrive at ``a`` and ``b`` and the ``n - 2`` between them evenly (a fluid), so
    the link's cumulative arrived work ``A`` is piecewise linear and a message arriving at ``tau``
    leaves at ``A(tau) + max over sigma <= tau of (sigma - A(sigma-))`` (Reich's formula), evaluated
    in one sweep over the sorted first/last arrivals. A train's first message moves on one hop
    latency after it starts service, and likewise its last (cut-through). ``head``/``tail`` are
    updated in place; they and ``msgs_tp`` are ``(T, P)`` (one timestep's trains close in memory),
    ``msgs_pt`` is the same counts ``(P, T)``.
    """
    T = msgs_pt.shape[1]
    widest = 1
    for g in range(group_starts.shape[0] - 1):
        widest = max(widest, group_starts[g + 1] - group_starts[g])
    # a link's trains bucketed by timestep: one contiguous pass over each pair's row
    count = np.zeros(T + 1, dtype=np.int64)
    bucket = np.empty(widest * T, dtype=np.int64)
    pairs = np.empty(widest, dtype=np.int64)
    sizes = np.empty(widest)
    keys = np.empty(2 * widest)
    idx = np.empty(2 * widest, dtype=np.int64)
    tmp = np.empty(2 * widest, dtype=np.int64)
    depart = np.empty(2 * widest)
    for g in range(group_starts.shape[0] - 1):
        lo, hi = group_starts[g], group_starts[g + 1]
        link = item_link[lo]
        s, lat = service[link], latency[link]
        count[:] = 0
        for i in range(lo, hi):
            row = msgs_pt[item_pair[i]]
            for t in range(T):
                if row[t] > 0:
                    count[t + 1] += 1
        for t in range(T):
            count[t + 1] += count[t]
        fill = count[:T].copy()
        for i in range(lo, hi):
            p = item_pair[i]
            row = msgs_pt[p]
            for t in range(T):
                if row[t] > 0:
                    bucket[fill[t]] = p
                    fill[t] += 1
        for t in range(T):
            m = count[t + 1] - count[t]
            if m == 0:
                continue
            h, b = head[t], tail[t]
            for i in range(m):
                p = bucket[count[t] + i]
                pairs[i] = p
                keys[i] = h[p]
                keys[m + i] = b[p]
                sizes[i] = msgs_tp[t, p]
            _order(keys, 2 * m, idx, tmp)
            last = _reich(keys, idx, m, sizes, s, depart)
            for i in range(m):
                p = pairs[i]
                h[p] = depart[i] - s + lat
                b[p] = depart[m + i] - s + lat
            if last > link_done[t]:
                link_done[t] = last


@njit(cache=True)
def _reich(keys, idx, m, sizes, s, depart):
    """Departure of every train's first (``depart[i]``) and last (``depart[m + i]``) message;
    returns the last departure. ``keys[:m]`` / ``keys[m:2m]`` are first / last arrivals, ``idx``
    sorts them."""
    arrived, rate, prev, best_gap = 0.0, 0.0, 0.0, -np.inf
    i = 0
    while i < 2 * m:
        tau = keys[idx[i]]
        before = arrived + rate * (tau - prev) if i else 0.0
        best_gap = max(best_gap, tau - before)
        jump = 0.0
        j = i
        while j < 2 * m and keys[idx[j]] == tau:
            e = idx[j]
            k = e % m
            n = sizes[k]
            a, b = keys[k], keys[m + k]
            if b <= a:  # all messages at once
                jump += n * s if e < m else 0.0
            else:
                slope = max(n - 2.0, 0.0) * s / (b - a)
                jump += s if n >= 2 or e < m else 0.0
                rate += slope if e < m else -slope
            j += 1
        arrived = before + jump
        prev = tau
        d = arrived + best_gap
        for q in range(i, j):
            depart[idx[q]] = d
        i = j
    return arrived + best_gap


@njit(cache=True)
def receive_queues(head, tail, work_pt, msgs_pt, dst_order, dst_starts, dst_slices, recv_done):
    """Per core and timestep, when its receive pipeline has processed every arriving message.

    Messages of a train arrive evenly over ``[head, tail]``; the core serves them in arrival order
    whatever their source (work conserving), so it finishes at ``max over tau of (tau + work
    arriving at or after tau)``; the maximum is at a train's first or last arrival, found by one
    sweep over the sorted arrivals.
    """
    T = head.shape[1]
    n = dst_order.shape[0]
    buf = np.empty((4, n))
    oa = np.empty(n, dtype=np.int64)
    ob = np.empty(n, dtype=np.int64)
    tmp = np.empty(n, dtype=np.int64)
    for g in range(dst_starts.shape[0]):
        lo = dst_starts[g]
        hi = dst_starts[g + 1] if g + 1 < dst_starts.shape[0] else n
        j = dst_slices[g]
        for t in range(T):
            recv_done[t, j] = _sweep(
                head, tail, work_pt, msgs_pt, dst_order[lo:hi], t, buf, oa, ob, tmp
            )


@njit(cache=True)
def _sweep(head, tail, work_pt, msgs_pt, pairs, t, buf, oa, ob, tmp):
    a, b, w, total = buf[0], buf[1], buf[2], buf[3]
    i = 0
    best = 0.0
    for p in pairs:
        if msgs_pt[p, t] > 0:
            a[i], b[i], w[i] = head[p, t], tail[p, t], work_pt[p, t]
            total[i] = w[i] * msgs_pt[p, t]
            best = max(best, b[i] + w[i])  # the sweep's value at b, free of rounding in c0 - c1 tau
            i += 1
    m = i
    if m == 0:
        return 0.0
    _order(a, m, oa, tmp)
    _order(b, m, ob, tmp)
    pending = 0.0
    for k in range(m):
        pending += total[k]  # work of trains whose first message arrives at or after tau
    best = max(best, a[oa[0]] + pending)
    c0 = 0.0  # trains in flight (a < tau <= b) remain w + (W - w)(b - tau)/(b - a) = c0 - c1 tau
    c1 = 0.0
    ia, ib = 0, 0
    while ia < m or ib < m:
        tau = a[oa[ia]] if ia < m and (ib >= m or a[oa[ia]] <= b[ob[ib]]) else b[ob[ib]]
        rest = pending + c0 - c1 * tau  # trains that start at tau are still pending
        best = max(best, tau + rest)
        while ia < m and a[oa[ia]] <= tau:  # start: pending -> in flight
            k = oa[ia]
            pending -= total[k]
            if b[k] > a[k]:
                slope = (total[k] - w[k]) / (b[k] - a[k])
                c0 += w[k] + slope * b[k]
                c1 += slope
            ia += 1
        while ib < m and b[ob[ib]] <= tau:  # finish: leaves after its last message at b
            k = ob[ib]
            if b[k] > a[k]:
                slope = (total[k] - w[k]) / (b[k] - a[k])
                c0 -= w[k] + slope * b[k]
                c1 -= slope
            ib += 1
    return best


@njit(cache=True)
def _hold(m, floors, depart, last):
    """Departures of :func:`_reich` (``last`` the latest) where train ``k``'s last message leaves
    no earlier than ``floors[k]`` (it waits upstream for space in the link's downstream buffer;
    the link serves others meanwhile). Returns the new latest departure."""
    for k in range(m):
        if floors[k] > depart[m + k]:
            depart[m + k] = floors[k]
            last = max(last, floors[k])
    return last


@njit(cache=True)
def link_queues_bp(
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
    # Re-use across passes (bit for bit the same result as solving every link every pass): a
    # link's Reich solve depends only on its trains' arrivals (floors and blocking act after it),
    # so where those are bit for bit the ones of its last solve in this timestep its departures
    # are re-used; where some changed, the last sort order seeds an insertion sort.
    seen_h = np.empty(n_items)
    seen_b = np.empty(n_items)
    dep_first = np.empty(n_items)
    dep_last = np.empty(n_items)
    seen_done = np.empty(n_links)
    solved = np.zeros(n_links, dtype=np.bool_)
    seen_perm = np.empty(2 * n_items, dtype=np.int64)  # each link's last sort order
    half = np.empty(widest, dtype=np.int64)
    for t in range(T):
        solved[:] = False
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
                same = solved[link]
                for q in range(m):
                    i = act[lo + q]
                    p = item_pair[i]
                    items[q] = i
                    pairs[q] = p
                    keys[q] = h[p]
                    keys[m + q] = b[p]
                    sizes[q] = row[p]
                    floors[q] = floor[i]
                    if same and (seen_h[i] != h[p] or seen_b[i] != b[p]):
                        same = False
                if same:
                    for q in range(m):
                        depart[q] = dep_first[items[q]]
                        depart[m + q] = dep_last[items[q]]
                    done = seen_done[link]
                else:
                    perm = seen_perm[2 * lo : 2 * (lo + m)]
                    _order_events(keys, m, perm, idx, half, tmp, solved[link])
                    done = _reich(keys, idx, m, sizes, s, depart)
                    for q in range(m):
                        i = items[q]
                        seen_h[i] = keys[q]
                        seen_b[i] = keys[m + q]
                        dep_first[i] = depart[q]
                        dep_last[i] = depart[m + q]
                    seen_done[link] = done
                    solved[link] = True
                done = _hold(m, floors, depart, done)
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
