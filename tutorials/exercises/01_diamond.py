# %% [markdown]
# # Exercise 1: a diamond-shaped DAG on the mock engine
#
# Lesson 1 ran a straight line of tasks. Build a *diamond*: one source, two branches that can run
# in parallel, and a task that joins them.
#
# ```
#          fetch
#         /     \
#     double   square
#         \     /
#         combine
# ```
#
# 1. `double` returns each number of `fetch`'s list times 2, `square` each number squared.
# 2. `combine` returns `sum(doubled) + sum(squared)`: for `[1, 2, 3]` that is 12 + 14 = 26.
# 3. Then make the graph cyclic on purpose (`fetch` also waits for `combine`) and catch the
#    engine's `DAGError`.
#
# Run this file as it is first: it prints what is left to do. The solution is in
# `../solutions/01_diamond.py`.

# %%
# requires: none
from mock_impl.engine import DAG, DAGError


def build_diamond() -> DAG:
    dag = DAG("diamond")
    dag.add_task("fetch", lambda: [1, 2, 3])
    # TODO 1: add "double" and "square", each reading fetch's list through `inputs=`.
    # TODO 2: add "combine", reading both branches.
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
def check() -> bool:
    dag = build_diamond()
    missing = {"double", "square", "combine"} - set(dag.tasks)
    if missing:
        print(f"TODO: add the tasks {sorted(missing)}")
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


check()
