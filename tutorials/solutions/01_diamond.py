# %% [markdown]
# # Solution 1: a diamond-shaped DAG on the mock engine
#
# `inputs={"argument": "upstream task"}` declares an edge and passes the upstream result as that
# argument. `double` and `square` depend only on `fetch`, so the engine's thread pool runs them
# at the same time. A cycle is refused by `DAG.validate()`, which `run()` calls before any task.

# %%
# requires: none
from mock_impl.engine import DAG, DAGError


def build_diamond() -> DAG:
    dag = DAG("diamond")
    dag.add_task("fetch", lambda: [1, 2, 3])
    dag.add_task("double", lambda xs: [2 * x for x in xs], inputs={"xs": "fetch"})
    dag.add_task("square", lambda xs: [x * x for x in xs], inputs={"xs": "fetch"})
    dag.add_task(
        "combine",
        lambda doubled, squared: sum(doubled) + sum(squared),
        inputs={"doubled": "double", "squared": "square"},
    )
    return dag


def make_cycle(dag: DAG) -> str | None:
    """Make `fetch` depend on `combine`, run the DAG and return the engine's error message."""
    dag.tasks["fetch"].after = ("combine",)
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


assert check()
