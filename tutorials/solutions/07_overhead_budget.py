# %% [markdown]
# # Solution 7: an overhead budget
#
# The overhead of N tasks is `fixed + per_task * N`. It stays within the budget while
# `fixed + per_task * N <= budget * work`, so `N <= (budget * work - fixed) / per_task`, rounded
# down (and never below 0). For 2 s + 100 ms per task, 10 minutes of work and 5 %:
# `(30 s - 2 s) / 0.1 s = 280` tasks. Take the rule the other way round too: with 280 tasks, each
# task averages 600 / 280 = 2.1 s of work, so no task should be much shorter than about 2 s on
# such an engine.

# %%
# requires: none
import math


def overhead_s(fixed_ms: float, per_task_ms: float, n_tasks: int) -> float:
    return (fixed_ms + per_task_ms * n_tasks) / 1000


def max_tasks(fixed_ms: float, per_task_ms: float, work_s: float, budget: float) -> int:
    allowed_ms = budget * work_s * 1000 - fixed_ms
    if allowed_ms < 0:
        return 0
    # a tiny tolerance so that 279.99999999 (floating point) still counts as 280
    return math.floor(allowed_ms / per_task_ms + 1e-9)


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


assert check()
