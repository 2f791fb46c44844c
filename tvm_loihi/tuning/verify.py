"""Multi-fidelity verification: the search's best candidates measured again at another fidelity.

The search fidelity's optimum is exploitable: the fast model is optimistic about the very mappings
the search drives it towards. So after the search, the ``top_k`` best distinct mappings by the
search objective, and the Lava default, are measured again at the verify fidelity
(``tune(verify=VerifyOptions(fidelity=...))``), through the same runner and log (a resumed run
re-measures nothing); these evaluations do not count against the budget, and the driver reports
the best of them there. Deterministic for a given run and a synchronous runner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..measure.records import MeasureInput, MeasureResult
from ..measure.runner import Runner


def candidates(
    evaluated: Sequence[tuple[MeasureInput, MeasureResult]], top_k: int, objective: str
) -> list[MeasureInput]:
    """The inputs to verify: the ``top_k`` best successful ones by ``objective`` (ties: in
    evaluation order), then the Lava default (``evaluated[0]``) unless it is among them.

    Parameters
    ----------
    evaluated : sequence of (MeasureInput, MeasureResult)
        The run's distinct mappings in the order first evaluated (the Lava default first), each
        with its aggregate result.
    top_k : int
        How many of the best to take.
    objective : str
        The search's first objective.
    """
    ok = [(i, r) for i, r in evaluated if r.ok]
    best = [i for i, _ in sorted(ok, key=lambda p: p[1].objective(objective))[:top_k]]
    default = evaluated[0][0]
    return best + ([default] if default.key() not in {i.key() for i in best} else [])


def verify_candidates(
    evaluated: Sequence[tuple[MeasureInput, MeasureResult]],
    fidelity: str,
    top_k: int,
    objective: str,
    runner: Runner,
    log=None,
) -> list[tuple[MeasureInput, MeasureResult]]:
    """Measure the :func:`candidates` at ``fidelity``: a result of the run itself (when the
    fidelity is the search's) or of the log is reused, the rest is submitted to ``runner`` in one
    batch and appended to ``log``.

    Parameters
    ----------
    evaluated : sequence of (MeasureInput, MeasureResult)
        As for :func:`candidates`.
    fidelity : str
        The verify fidelity.
    top_k : int
        How many of the search's best to verify (the Lava default comes on top).
    objective : str
        The search's first objective (the ranking).
    runner : Runner
        Where the new measurements are made.
    log : TuningLog, optional
        Consulted (``lookup``) before measuring; new results are appended.

    Returns
    -------
    list of (MeasureInput, MeasureResult)
        At ``fidelity``, in search rank, the Lava default last unless ranked.
    """
    run = {i.key(): r for i, r in evaluated}
    inputs = [
        dataclasses.replace(i, fidelity=fidelity) for i in candidates(evaluated, top_k, objective)
    ]
    known = [
        run[i.key()] if i.key() in run else log.lookup(i) if log is not None else None
        for i in inputs
    ]
    todo = [i for i, r in zip(inputs, known) if r is None]
    futures = iter(runner.submit(todo) if todo else [])
    out = []
    for inp, res in zip(inputs, known):
        if res is None:
            res = next(futures).result()
            if log is not None:
                log.append(inp, res)
        out.append((inp, res))
    return out
