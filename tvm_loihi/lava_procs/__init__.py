"""Custom Lava processes of tvm_loihi (and nothing else).

Lava's ProcessModel search executes every ``.py`` file in the directory of a custom Process's module
on each compile (``lava.magma.compiler.compiler_graphs._find_proc_models``), so this package holds
exactly three files: this one, :mod:`.process` (what: ports and Vars) and :mod:`.models` (how:
fixed-point models). Nothing here imports TVM; :mod:`tvm_loihi.lava.emit` builds graphs from these
processes.
"""
