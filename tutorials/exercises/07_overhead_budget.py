# %% [markdown]
# # Exercise 7: an overhead budget
#
# Lesson 7 fitted `time = fixed + per_task * N` for each engine. Turn the fit into a design rule:
# **how many tasks may a pipeline have before the engine's overhead exceeds a budget?**
#
# 1. Write `overhead_s(fixed_ms, per_task_ms, n_tasks)`: the engine's seconds for one run.
# 2. Write `max_tasks(fixed_ms, per_task_ms, work_s, budget)`: the largest N whose overhead is at
#    most `budget` (a fraction, e.g. 0.05) of `work_s` seconds of work, or 0 if even the fixed
#    cost is over budget. The work does not depend on N: it is split among the tasks.
# 3. For an engine costing 2 s per run and 100 ms per task, with 10 minutes of work and a 5 %
#    budget, how many tasks can you afford? (Answer: 280.)
#
# Run this file as it is first: it stops with "not solved yet" and
# says what is left to do. The solution is in
# `../solutions/07_overhead_budget.py`.

# %%
# requires: none


def overhead_s(fixed_ms: float, per_task_ms: float, n_tasks: int) -> float:
    return 0.0  # TODO 1


def max_tasks(fixed_ms: float, per_task_ms: float, work_s: float, budget: float) -> int:
    return 0  # TODO 2


# %%
def check() -> bool:
    if overhead_s(2000, 100, 30) == 0.0:
        print("TODO: overhead_s is not written yet")
        return False
    assert abs(overhead_s(2000, 100, 30) - 5.0) < 1e-9
    if max_tasks(2000, 100, 600, 0.05) == 0:
        print("TODO: max_tasks is not written yet")
        return False
    assert max_tasks(2000, 100, 600, 0.05) == 280
    assert max_tasks(2000, 100, 10, 0.05) == 0  # the fixed cost alone is 20 % of 10 s
    assert max_tasks(0.1, 0.01, 1, 0.05) == 4990  # an in-process engine
    print("solved: 280 tasks for 10 minutes of work under a 5 % budget")
    return True


if not check():
    raise SystemExit("not solved yet: do the TODO printed above, then run this file again")
