"""SimpleAgentAssigner: keyword rules that send each task to a worker type."""

from __future__ import annotations

import pytest

from codeframe.agents.simple_assignment import (
    WORKER_TYPES,
    SimpleAgentAssigner,
    assign_task_to_agent,
    normalize_agent_type,
)
from codeframe.core.models import Task


@pytest.fixture
def assigner() -> SimpleAgentAssigner:
    return SimpleAgentAssigner()


def test_keyword_families_in_seed_order() -> None:
    keywords = SimpleAgentAssigner.AGENT_KEYWORDS
    assert list(keywords) == ["frontend-specialist", "test-engineer", "backend-worker"]
    assert keywords["frontend-specialist"][:3] == ["frontend", "ui", "ux"]
    assert keywords["frontend-specialist"][-1] == "wcag"
    assert "integration test" in keywords["test-engineer"]
    assert keywords["test-engineer"][-1] == "fixture"
    assert keywords["backend-worker"][0] == "backend"
    assert keywords["backend-worker"][-1] == "repository"
    assert sum(len(words) for words in keywords.values()) == 22 + 16 + 16


@pytest.mark.parametrize(
    ("title", "description", "expected"),
    [
        ("Build React component", "", "frontend-specialist"),
        ("Style the modal", "with tailwind", "frontend-specialist"),
        ("WCAG audit", "", "frontend-specialist"),
        ("Add pytest coverage", "", "test-engineer"),
        ("E2E suite", "use fixtures and assertions", "test-engineer"),
        ("Create REST endpoint", "backed by SQL", "backend-worker"),
        ("Add middleware for auth", "", "backend-worker"),
    ],
)
def test_each_family_wins_on_its_keywords(
    assigner: SimpleAgentAssigner, title: str, description: str, expected: str
) -> None:
    task = {"title": title, "description": description}
    assert assigner.assign_agent_type(task) == expected


def test_matching_ignores_case_and_reads_title_and_description(
    assigner: SimpleAgentAssigner,
) -> None:
    task = {"title": "Refresh", "description": "The DASHBOARD CHART"}
    assert assigner.assign_agent_type(task) == "frontend-specialist"


def test_title_and_description_are_joined_with_a_space(assigner: SimpleAgentAssigner) -> None:
    # "the tes" + "t" would make "test" if they were glued together.
    assert assigner.assign_agent_type({"title": "tes", "description": "t"}) == "backend-worker"


def test_most_hits_win(assigner: SimpleAgentAssigner) -> None:
    # frontend: form (1); backend: api, endpoint, database (3)
    task = {"title": "Form submit API endpoint", "description": "store in the database"}
    assert assigner.assign_agent_type(task) == "backend-worker"


def test_ties_go_to_the_earlier_type(assigner: SimpleAgentAssigner) -> None:
    # One hit each ("pytest" would count twice: it contains "test").
    assert assigner.assign_agent_type({"title": "react jest"}) == "frontend-specialist"
    assert assigner.assign_agent_type({"title": "modal server"}) == "frontend-specialist"
    assert assigner.assign_agent_type({"title": "jest database"}) == "test-engineer"


def test_no_keyword_defaults_to_backend(assigner: SimpleAgentAssigner) -> None:
    assert assigner.assign_agent_type({"title": "Write docs", "description": "README"}) == (
        "backend-worker"
    )
    assert assigner.assign_agent_type({}) == "backend-worker"
    assert assigner.assign_agent_type({"title": None, "description": None}) == "backend-worker"


def test_task_objects_work_too(assigner: SimpleAgentAssigner) -> None:
    assert assigner.assign_agent_type(Task(title="vue layout")) == "frontend-specialist"


def test_explanation_names_up_to_five_keywords_in_keyword_order(
    assigner: SimpleAgentAssigner,
) -> None:
    task = {
        "title": "Responsive layout: button, form, modal",
        "description": "React component with CSS and HTML",
    }
    assert assigner.get_assignment_explanation(task, "frontend-specialist") == (
        "Assigned to frontend-specialist based on keywords: component, react, css, html, responsive"
    )


def test_explanation_with_few_keywords(assigner: SimpleAgentAssigner) -> None:
    task = {"title": "Add endpoint", "description": ""}
    assert assigner.get_assignment_explanation(task, "backend-worker") == (
        "Assigned to backend-worker based on keywords: endpoint"
    )


def test_default_explanation(assigner: SimpleAgentAssigner) -> None:
    task = {"title": "Write docs"}
    assert assigner.get_assignment_explanation(task, "backend-worker") == (
        "Assigned to backend-worker (default assignment)"
    )


def test_explanation_accepts_the_pool_spelling(assigner: SimpleAgentAssigner) -> None:
    task = {"title": "pytest fixture"}
    assert assigner.get_assignment_explanation(task, "test") == (
        "Assigned to test based on keywords: pytest, fixture"
    )


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Speed up the test suite", "test-engineer"),  # "ui" inside "suite" is no keyword
        ("Build the release", "backend-worker"),  # nor inside "build"
        ("Add unit tests for the parser", "test-engineer"),  # plurals count
        ("Style the buttons and forms", "frontend-specialist"),
        ("Contest results page", "backend-worker"),  # "test" inside "contest" is not a hit
    ],
)
def test_keywords_match_whole_words(
    assigner: SimpleAgentAssigner, title: str, expected: str
) -> None:
    assert assigner.assign_agent_type({"title": title}) == expected


def test_a_task_that_names_its_worker_gets_it(assigner: SimpleAgentAssigner) -> None:
    task = {"title": "Style the React dashboard", "worker": "test"}
    assert assigner.assign_agent_type(task) == "test-engineer"
    assert assigner.assign_agent_type({**task, "worker": "backend-worker"}) == "backend-worker"


def test_module_shortcut() -> None:
    assert assign_task_to_agent({"title": "Write vitest spec"}) == "test-engineer"
    assert assign_task_to_agent({"title": "Tidy"}) == "backend-worker"


def test_worker_types_map_assigner_names_to_pool_names() -> None:
    assert WORKER_TYPES == {
        "backend-worker": "backend",
        "frontend-specialist": "frontend",
        "test-engineer": "test",
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("backend", "backend"),
        ("frontend", "frontend"),
        ("test", "test"),
        ("backend-worker", "backend"),
        ("frontend-specialist", "frontend"),
        ("test-engineer", "test"),
        (" Frontend ", "frontend"),
    ],
)
def test_normalize_agent_type(name: str, expected: str) -> None:
    assert normalize_agent_type(name) == expected


@pytest.mark.parametrize("name", ["code-reviewer", "", "backend-1"])
def test_normalize_rejects_unknown_types(name: str) -> None:
    with pytest.raises(ValueError, match=r"^Unknown agent type: "):
        normalize_agent_type(name)


def test_every_assignment_is_a_pool_type(assigner: SimpleAgentAssigner) -> None:
    for title in ("ui", "test", "api", "nothing"):
        assert normalize_agent_type(assigner.assign_agent_type({"title": title})) in {
            "backend",
            "frontend",
            "test",
        }
