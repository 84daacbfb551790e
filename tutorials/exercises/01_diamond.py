# %% [markdown]
# # Exercise 1: write the tasks of a diamond-shaped DAG (mock engine)
#
# Lesson 1 ran graphs someone else wrote. Here you write the tasks *and* the graph: a
# **diamond**, one source, two branches that can run in parallel, and a task that joins them.
#
# ```
#          fetch
#         /     \
#     double   square
#         \     /
#         combine
# ```
#
# 1. Write the task functions: `double(numbers)` returns each number times 2, `square(numbers)`
#    each number squared, `combine(doubled, squared)` returns `sum(doubled) + sum(squared)`
#    (for `[1, 2, 3]`: 12 + 14 = 26).
# 2. Wire them in `build_diamond()` with `inputs={"argument": "upstream task"}`. The check
#    reads the engine's graph: a chain (`fetch -> double -> square -> combine`) gives the wrong
#    shape and is refused, even if it prints 26.
# 3. Make the graph cyclic on purpose (`fetch` also waits for `combine`) and return the engine's
#    `DAGError` message.
#
# Prerequisites: lesson 1. Environment: any (`# requires: none`). About 15 minutes.
# Run this file as it is first: it stops with "not solved yet" and says what is left to do. The
# solution is in `../solutions/01_diamond.py`.

# %%
# requires: none
from mock_impl.engine import DAG, DAGError


def double(numbers: list[int]) -> list[int]:
    raise NotImplementedError("TODO 1: each number times 2")


def square(numbers: list[int]) -> list[int]:
    raise NotImplementedError("TODO 1: each number squared")


def combine(doubled: list[int], squared: list[int]) -> int:
    raise NotImplementedError("TODO 1: the sum of both lists")


def build_diamond() -> DAG:
    dag = DAG("diamond")
    dag.add_task("fetch", lambda: [1, 2, 3])
    # TODO 2: add "double" and "square", each reading fetch's list, and "combine", reading both.
    return dag


def make_cycle(dag: DAG) -> str | None:
    """Make `fetch` depend on `combine`, run the DAG and return the engine's error message."""
    # TODO 3: make "fetch" wait for "combine" (hint: the `after` field of dag.tasks["fetch"]).
    try:
        dag.run()
    except DAGError as error:
        return str(error)
    return None


# %%
DIAMOND = {
    "fetch": set(),
    "double": {"fetch"},
    "square": {"fetch"},
    "combine": {"double", "square"},
}


def check() -> bool:
    try:
        assert double([1, 2]) == [2, 4] and square([1, 3]) == [1, 9]
        assert combine([2, 4], [1, 9]) == 16
    except NotImplementedError as error:
        print(error)
        return False
    dag = build_diamond()
    graph = {name: set(ups) for name, ups in dag.graph.items()}
    missing = set(DIAMOND) - set(graph)
    if missing:
        print(f"TODO: add the tasks {sorted(missing)} to build_diamond()")
        return False
    if graph != DIAMOND:
        wrong = {n: sorted(graph[n]) for n in DIAMOND if graph[n] != DIAMOND[n]}
        print(f"TODO: not a diamond; these tasks depend on the wrong tasks: {wrong}")
        return False
    run = dag.run()
    assert run.state == "success", run.errors
    assert run.results["combine"] == 26, run.results
    message = make_cycle(build_diamond())
    if message is None:
        print("TODO: make_cycle should return the DAGError's message")
        return False
    assert "has a cycle" in message, message
    print("solved:", run.results["combine"], "|", message)
    return True


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
