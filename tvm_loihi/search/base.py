"""The ask/tell protocol every search strategy follows, with explicit JSON-serialisable state.

A strategy proposes one genome per :meth:`Strategy.ask` and learns from :meth:`Strategy.tell`, in
any order and for genomes it did not ask for (the driver tells it the Lava default first). All
randomness comes from ``self.rng`` (a ``np.random.Generator``) whose ``bit_generator.state`` is part
of :meth:`Strategy.state`, so a strategy can be stopped, serialised to JSON and resumed exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .genome import Genome, SearchSpace

Fitness = tuple[float, ...]
TrafficFn = Callable[[tuple[int, ...]], np.ndarray]


class Strategy:
    """Base class of search strategies (subclasses register themselves with ``@register(name)``).

    Parameters
    ----------
    space : SearchSpace
        What a genome may be.
    n_obj : int
        Number of objectives in every fitness tuple (minimised). Single-objective strategies use the
        first.
    budget : int
        Evaluations the driver will spend (schedules such as annealing temperature use it).
    seed : int
        Seed of the strategy's generator.
    seeds : sequence of Genome
        Heuristic starting points the strategy may ask first.
    traffic : callable, optional
        ``counts -> (n_used, n_used)`` spike messages between logical cores (placement heuristics).
    order : numpy.ndarray, optional
        Physical cores in a locality-preserving order (e.g. the snake walk); defaults to id order.
    """

    name = "?"
    uses_seeds = True  # whether the driver should hand it the heuristic seeds (baselines: no)

    def __init__(
        self,
        space: SearchSpace,
        *,
        n_obj: int = 1,
        budget: int = 300,
        seed: int = 0,
        seeds: Sequence[Genome] = (),
        traffic: TrafficFn | None = None,
        order: np.ndarray | None = None,
        **params,
    ) -> None:
        if params:
            raise TypeError(f"strategy {self.name!r}: unknown parameters {sorted(params)}")
        self.space, self.n_obj, self.budget = space, int(n_obj), int(budget)
        self.rng = np.random.default_rng(seed)
        self.seeds = list(seeds)
        self.traffic = traffic
        self.order = (
            np.arange(space.n_cores) if order is None else np.asarray(order, dtype=np.int64)
        )
        self.n_told = 0
        self.n_asked = 0
        self.best: tuple[Genome, Fitness] | None = None
        self.seen: set[str] = set()  # keys of genomes asked or told (to avoid proposing them again)

    # -- protocol ----------------------------------------------------------------------------------
    def ask(self) -> Genome | None:
        """Propose the next genome to evaluate (always feasible),
        or None when the strategy is done."""
        self.n_asked += 1
        g = self._ask()
        if g is not None:
            self.seen.add(g.key())
        return g

    def tell(self, genome: Genome, fitness: Sequence[float]) -> None:
        """Report the fitness (objective tuple, ``inf`` for failed measurements) of ``genome``."""
        fit = tuple(float(f) for f in fitness)
        if len(fit) != self.n_obj:
            raise ValueError(
                f"strategy {self.name!r}: expected {self.n_obj} objectives, got {len(fit)}"
            )
        self.n_told += 1
        self.seen.add(genome.key())
        if self.best is None or fit[0] < self.best[1][0]:
            self.best = (genome, fit)
        self._tell(genome, fit)

    def revise(self, genome: Genome, fitness: Sequence[float]) -> None:
        """Correct the fitness of a genome told before (repeated measurements of a noisy backend
        changed its aggregate, :mod:`tvm_loihi.tuning.racing`). Not a new evaluation: counters
        and adaptation are unchanged; the incumbent (``best``) follows the revised figure."""
        fit = tuple(float(f) for f in fitness)
        if len(fit) != self.n_obj:
            raise ValueError(
                f"strategy {self.name!r}: expected {self.n_obj} objectives, got {len(fit)}"
            )
        key = genome.key()
        if self.best is not None and self.best[0].key() == key:
            self.best = (self.best[0], fit)
        elif self.best is None or fit[0] < self.best[1][0]:
            self.best = (genome, fit)
        self._revise(genome, fit)

    def state(self) -> dict:
        """Everything needed to resume, as plain JSON data."""
        return {
            "name": self.name,
            "rng": self.rng.bit_generator.state,
            "n_told": self.n_told,
            "n_asked": self.n_asked,
            "best": _pair_json(self.best),
            "seeds": [g.to_json() for g in self.seeds],
            "seen": sorted(self.seen),
            "own": self._state(),
        }

    def load_state(self, d: dict) -> None:
        """Restore :meth:`state` output (on a strategy built with the same space and parameters)."""
        if d["name"] != self.name:
            raise ValueError(f"state of strategy {d['name']!r} cannot be loaded into {self.name!r}")
        self.rng.bit_generator.state = d["rng"]
        self.n_told, self.n_asked = int(d["n_told"]), int(d["n_asked"])
        self.best = _pair_from(d["best"])
        self.seeds = [Genome.from_json(g) for g in d["seeds"]]
        self.seen = set(d["seen"])
        self._load(d["own"])

    # -- for subclasses ----------------------------------------------------------------------------
    def _ask(self) -> Genome | None:
        raise NotImplementedError

    def _tell(self, genome: Genome, fitness: Fitness) -> None:
        pass

    def _revise(self, genome: Genome, fitness: Fitness) -> None:
        pop = getattr(self, "pop", None)  # population strategies: the member's figure
        if isinstance(pop, list):
            key = genome.key()
            for i, member in enumerate(pop):
                if isinstance(member, tuple) and len(member) == 2 and member[0].key() == key:
                    pop[i] = (member[0], fitness)
            if hasattr(self, "_rc"):
                self._rc = None  # NSGA-II's cached ranks and crowding

    def _state(self) -> dict:
        return {}

    def _load(self, d: dict) -> None:
        pass

    def _fresh(self, make: Callable[[int], Genome], tries: int = 16) -> Genome:
        """``make(attempt)`` until it yields a genome not proposed before
        (the last try is kept anyway).

        ``attempt`` lets the caller escalate the mutation strength when small moves only revisit.
        """
        for attempt in range(tries):
            g = make(attempt)
            if g.key() not in self.seen:
                return g
        return g

    def _next_seed(self) -> Genome | None:
        return self.seeds.pop(0) if self.seeds else None


class PopulationStrategy(Strategy):
    """A strategy that asks the heuristic seeds first, then fills a population of ``pop_size`` with
    :meth:`_initial` genomes, then breeds every further child with :meth:`_breed`."""

    pop: list
    pop_size: int

    def _ask(self) -> Genome:
        seed = self._next_seed()
        if seed is not None:
            return seed
        if len(self.pop) < self.pop_size:
            return self._fresh(lambda _: self._initial())
        return self._fresh(self._breed)

    def _initial(self) -> Genome:
        raise NotImplementedError

    def _breed(self, attempt: int) -> Genome:
        raise NotImplementedError


def _pair_json(pair: tuple[Genome, Fitness] | None) -> dict | None:
    if pair is None:
        return None
    return {"genome": pair[0].to_json(), "fitness": [_num(f) for f in pair[1]]}


def _pair_from(d: dict | None) -> tuple[Genome, Fitness] | None:
    if d is None:
        return None
    return Genome.from_json(d["genome"]), tuple(float(f) for f in d["fitness"])


def _num(f: float) -> float | str:
    return f if np.isfinite(f) else "inf"  # JSON has no infinity


def pop_json(pop: Sequence[tuple[Genome, Fitness]]) -> list[dict]:
    """A population (genome, fitness) as JSON data."""
    return [_pair_json(p) for p in pop]


def pop_from(d: Sequence[dict]) -> list[tuple[Genome, Fitness]]:
    """Inverse of :func:`pop_json`."""
    return [_pair_from(x) for x in d]
