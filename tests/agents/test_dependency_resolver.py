"""DependencyResolver: the graph the lead agent schedules from."""

from __future__ import annotations

import logging
import sys

import pytest

from codeframe.agents.dependency_resolver import DependencyResolver, parse_depends_on
from codeframe.core.models import Task, TaskStatus
from codeframe.errors import DependencyCycleError, InvalidInputError


def t(task_id: int, depends_on: object = "", status: str = "pending") -> dict:
    return {"id": task_id, "status": status, "depends_on": depends_on}


def built(*tasks: dict) -> DependencyResolver:
    resolver = DependencyResolver()
    resolver.build_dependency_graph(list(tasks))
    return resolver


# -- building ------------------------------------------------------------------------


def test_fresh_resolver_is_empty() -> None:
    resolver = DependencyResolver()
    assert resolver.all_tasks == set()
    assert resolver.completed_tasks == set()
    assert resolver.get_ready_tasks() == []
    assert resolver.topological_sort() == []
    assert resolver.find_cycle() is None


def test_state_records_edges_both_ways_and_completed_tasks() -> None:
    resolver = built(t(1, status="completed"), t(2, [1]), t(3, [1, 2]))
    assert resolver.all_tasks == {1, 2, 3}
    assert resolver.completed_tasks == {1}
    assert resolver.dependencies[3] == {1, 2}
    assert resolver.dependents[1] == {2, 3}


def test_rebuilding_replaces_the_previous_graph() -> None:
    resolver = built(t(1), t(2, [1]))
    resolver.build_dependency_graph([t(7)])
    assert resolver.all_tasks == {7}
    assert 2 not in resolver.dependencies
    assert resolver.get_ready_tasks() == [7]


def test_task_objects_and_enum_statuses_are_accepted() -> None:
    resolver = DependencyResolver()
    resolver.build_dependency_graph(
        [
            Task(id=1, status=TaskStatus.COMPLETED),
            Task(id=2, depends_on=[1]),
            Task(id=3, depends_on="2"),
        ]
    )
    assert resolver.completed_tasks == {1}
    assert resolver.get_ready_tasks() == [2]


@pytest.mark.parametrize(
    ("depends_on", "expected"),
    [
        ("[1, 2]", {1, 2}),
        ("1,2", {1, 2}),
        (" 1 , 2 ", {1, 2}),
        ([1, 2], {1, 2}),
        ((1, 2), {1, 2}),
        (["1", "2"], {1, 2}),
        ("[]", set()),
        ("", set()),
        ("   ", set()),
        (None, set()),
    ],
)
def test_depends_on_forms(depends_on: object, expected: set[int]) -> None:
    resolver = built(t(1), t(2), t(3, depends_on))
    assert resolver.dependencies.get(3, set()) == expected


@pytest.mark.parametrize("garbage", ["[1, 2", "one,two", "{}", '{"a": 1}', [1, "x"], [True]])
def test_unparsable_depends_on_counts_as_none_and_is_logged(
    garbage: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="codeframe.agents.dependency_resolver"):
        resolver = built(t(1), t(2, garbage))
    assert resolver.dependencies.get(2, set()) == set()
    assert resolver.get_ready_tasks() == [1, 2]
    assert "task 2: unreadable depends_on" in caplog.text


def test_parse_depends_on_raises_value_error_on_garbage() -> None:
    assert parse_depends_on("[3, 4]") == [3, 4]
    with pytest.raises(ValueError):
        parse_depends_on("3;4")


def test_task_without_id_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="without an id"):
        built({"status": "pending", "depends_on": ""})


# -- cycles --------------------------------------------------------------------------


def test_self_dependency_is_a_cycle_error_and_a_value_error() -> None:
    with pytest.raises(DependencyCycleError, match="Task 2 cannot depend on itself"):
        built(t(1), t(2, [2]))
    with pytest.raises(ValueError, match="cannot depend on itself"):
        built(t(5, "5"))


def test_two_task_cycle_message() -> None:
    with pytest.raises(DependencyCycleError) as info:
        built(t(1, [2]), t(2, [1]))
    assert str(info.value) == "Circular dependencies detected: 1 → 2 → 1"
    assert isinstance(info.value, ValueError)


def test_cycle_message_starts_at_smallest_id_and_follows_depends_on() -> None:
    # 4 needs 9, 9 needs 6, 6 needs 4; 1 and 2 hang off the cycle without being in it.
    with pytest.raises(DependencyCycleError) as info:
        built(t(1), t(2, [1, 6]), t(4, [9]), t(6, [4]), t(9, [6]))
    assert str(info.value) == "Circular dependencies detected: 4 → 9 → 6 → 4"


def test_find_cycle_after_a_failed_build() -> None:
    resolver = DependencyResolver()
    with pytest.raises(DependencyCycleError):
        resolver.build_dependency_graph([t(3, [5]), t(5, [3]), t(8)])
    assert resolver.find_cycle() == [3, 5, 3]
    assert resolver.detect_cycles() is True
    assert resolver.topological_sort() is None


def test_acyclic_graph_has_no_cycle() -> None:
    resolver = built(t(1), t(2, [1]), t(3, [1]), t(4, [2, 3]))
    assert resolver.detect_cycles() is False
    assert resolver.find_cycle() is None


def test_validate_dependency_checks_without_changing_the_graph() -> None:
    resolver = built(t(1), t(2, [1]), t(3, [2]))
    before = ({k: set(v) for k, v in resolver.dependencies.items()}, dict(resolver.dependents))
    assert resolver.validate_dependency(1, 3) is False  # 3 → 2 → 1 → 3
    assert resolver.validate_dependency(3, 1) is True  # already implied
    assert resolver.validate_dependency(1, 99) is True
    after = ({k: set(v) for k, v in resolver.dependencies.items()}, dict(resolver.dependents))
    assert after == before
    with pytest.raises(DependencyCycleError, match="cannot depend on itself"):
        resolver.validate_dependency(2, 2)


# -- scheduling ----------------------------------------------------------------------


def test_ready_tasks_are_those_with_all_dependencies_completed() -> None:
    resolver = built(t(4), t(1, status="completed"), t(2, [1]), t(3, [1, 2]), t(5, [3]))
    assert resolver.get_ready_tasks() == [2, 4]
    assert resolver.get_ready_tasks(exclude_completed=False) == [1, 2, 4]


def test_callers_may_add_to_completed_tasks() -> None:
    resolver = built(t(1), t(2, [1]))
    resolver.completed_tasks.add(1)
    assert resolver.get_ready_tasks() == [2]


def test_unblock_returns_only_dependents_now_fully_satisfied() -> None:
    resolver = built(t(1), t(2), t(3, [1]), t(4, [1, 2]), t(5, [3]))
    assert resolver.unblock_dependent_tasks(1) == [3]
    assert 1 in resolver.completed_tasks
    assert resolver.unblock_dependent_tasks(2) == [4]
    assert resolver.unblock_dependent_tasks(3) == [5]
    assert resolver.unblock_dependent_tasks(99) == []


def test_unblock_skips_dependents_already_completed() -> None:
    resolver = built(t(1), t(2, [1], status="completed"), t(3, [1]))
    assert resolver.unblock_dependent_tasks(1) == [3]


def test_topological_sort_puts_dependencies_first_and_breaks_ties_by_id() -> None:
    resolver = built(t(5), t(3), t(4, [5]), t(1, [4]), t(2, [3]))
    assert resolver.topological_sort() == [3, 2, 5, 4, 1]


def test_topological_sort_includes_completed_and_ignores_missing_ids() -> None:
    resolver = built(t(2, status="completed"), t(1, [2, 42]))
    assert resolver.topological_sort() == [2, 1]


def test_dependency_depth_is_the_longest_chain_below() -> None:
    resolver = built(t(1), t(2, [1]), t(3, [2]), t(4, [1, 3]), t(5))
    assert [resolver.get_dependency_depth(i) for i in (1, 2, 3, 4, 5)] == [0, 1, 2, 3, 0]
    assert resolver.get_dependency_depth(404) == 0


def test_blocked_tasks_map_unfinished_tasks_to_unfinished_dependencies() -> None:
    resolver = built(t(1, status="completed"), t(2), t(3, [1, 2]), t(4, [3, 2]), t(5, [1]))
    assert resolver.get_blocked_tasks() == {3: [2], 4: [2, 3]}
    resolver.unblock_dependent_tasks(2)
    assert resolver.get_blocked_tasks() == {4: [3]}


# -- what the lead agent blocks ------------------------------------------------------


def test_missing_dependencies_are_kept_and_keep_the_task_blocked() -> None:
    resolver = built(t(1), t(2, [1, 77, 70]), t(3, [2]))
    assert resolver.missing_dependencies() == {2: [70, 77]}
    resolver.unblock_dependent_tasks(1)
    assert resolver.get_ready_tasks() == []
    assert resolver.get_blocked_tasks()[2] == [70, 77]
    assert resolver.dependents_closure(77) == [2, 3]


def test_dependents_closure_is_transitive_and_ascending() -> None:
    resolver = built(t(1), t(2, [1]), t(3, [1]), t(6, [2]), t(4, [6, 3]), t(5))
    assert resolver.dependents_closure(1) == [2, 3, 4, 6]
    assert resolver.dependents_closure(3) == [4]
    assert resolver.dependents_closure(4) == []
    assert resolver.dependents_closure(123) == []


# -- scale ---------------------------------------------------------------------------


def test_a_10000_task_chain_needs_no_recursion() -> None:
    n = 10_000
    assert n > sys.getrecursionlimit()
    tasks = [t(1)] + [t(i, [i - 1]) for i in range(2, n + 1)]
    resolver = built(*tasks)
    assert resolver.get_dependency_depth(n) == n - 1
    assert resolver.topological_sort() == list(range(1, n + 1))
    assert resolver.dependents_closure(1) == list(range(2, n + 1))
    assert resolver.validate_dependency(1, n) is False
    assert resolver.get_ready_tasks() == [1]


def test_a_10000_task_cycle_is_reported_without_recursion() -> None:
    n = 10_000
    tasks = [t(i, [i % n + 1]) for i in range(1, n + 1)]  # 1 → 2 → … → n → 1
    with pytest.raises(DependencyCycleError) as info:
        built(*tasks)
    message = str(info.value)
    assert message.startswith("Circular dependencies detected: 1 → 2 → 3 → ")
    assert message.endswith(f" → {n} → 1")
