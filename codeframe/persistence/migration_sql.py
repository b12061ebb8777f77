"""The fixed SQL text of every released migration, in the order :data:`MIGRATIONS` applies them.

Never edit a released entry: files in the wild applied exactly this text (a test pins each
one's digest). CHECK lists are written out literally, never built from the Python enums; a
change to an enum comes as a new migration, appended here and in :mod:`.migrations`.
"""

from __future__ import annotations

CORE_TABLES: tuple[str, ...] = (
    """CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        workspace_path TEXT,
        status TEXT NOT NULL DEFAULT 'init' CHECK (status IN (
            'init', 'planning', 'running', 'active', 'paused', 'completed'
        )),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        config TEXT
    )""",
    """CREATE TABLE issues (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        issue_number TEXT NOT NULL,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN (
            'pending', 'assigned', 'in_progress', 'blocked', 'completed', 'failed', 'cancelled'
        )),
        priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
        workflow_step INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        completed_at TEXT,
        UNIQUE (project_id, issue_number)
    )""",
    """CREATE TABLE tasks (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        issue_id INTEGER REFERENCES issues(id) ON DELETE SET NULL,
        task_number TEXT,
        parent_issue_number TEXT,
        title TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN (
            'pending', 'assigned', 'in_progress', 'blocked', 'completed', 'failed', 'cancelled'
        )),
        assigned_to TEXT,
        depends_on TEXT NOT NULL DEFAULT '[]',
        can_parallelize INTEGER NOT NULL DEFAULT 0 CHECK (can_parallelize IN (0, 1)),
        priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 0 AND 4),
        workflow_step INTEGER NOT NULL DEFAULT 1,
        requires_mcp INTEGER NOT NULL DEFAULT 0 CHECK (requires_mcp IN (0, 1)),
        estimated_tokens INTEGER NOT NULL DEFAULT 0,
        actual_tokens INTEGER,
        output TEXT,
        error TEXT,
        notes TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(notes)),
        execution_count INTEGER NOT NULL DEFAULT 0 CHECK (execution_count >= 0),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        completed_at TEXT
    )""",
    "CREATE INDEX idx_issues_project ON issues(project_id)",
    "CREATE INDEX idx_tasks_project_status ON tasks(project_id, status)",
    "CREATE INDEX idx_tasks_issue ON tasks(issue_id)",
)

TEST_TABLES: tuple[str, ...] = (
    """CREATE TABLE test_results (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        status TEXT NOT NULL CHECK (status IN (
            'passed', 'failed', 'error', 'timeout', 'no_tests'
        )),
        passed INTEGER NOT NULL DEFAULT 0 CHECK (passed >= 0),
        failed INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
        errors INTEGER NOT NULL DEFAULT 0 CHECK (errors >= 0),
        skipped INTEGER NOT NULL DEFAULT 0 CHECK (skipped >= 0),
        duration REAL NOT NULL DEFAULT 0.0 CHECK (duration >= 0),
        output TEXT,
        attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    """CREATE TABLE test_cases (
        id INTEGER PRIMARY KEY,
        test_result_id INTEGER NOT NULL REFERENCES test_results(id) ON DELETE CASCADE,
        node_id TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('passed', 'failed', 'error', 'skipped')),
        message TEXT NOT NULL DEFAULT '',
        duration REAL NOT NULL DEFAULT 0.0
    )""",
    # code_changes_format keeps "read back as given": a list goes in as JSON, text as text.
    """CREATE TABLE correction_attempts (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        attempt_number INTEGER NOT NULL CHECK (attempt_number BETWEEN 1 AND 3),
        error_analysis TEXT NOT NULL DEFAULT '',
        fix_description TEXT NOT NULL DEFAULT '',
        code_changes TEXT NOT NULL DEFAULT '',
        code_changes_format TEXT NOT NULL DEFAULT 'text'
            CHECK (code_changes_format IN ('text', 'json')),
        test_result_id INTEGER REFERENCES test_results(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    """CREATE TABLE blockers (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        severity TEXT NOT NULL DEFAULT 'sync' CHECK (severity IN ('sync', 'async')),
        reason TEXT NOT NULL DEFAULT '',
        question TEXT NOT NULL DEFAULT '',
        resolution TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        resolved_at TEXT
    )""",
    "CREATE INDEX idx_test_results_task ON test_results(task_id)",
    "CREATE INDEX idx_test_cases_result ON test_cases(test_result_id)",
    "CREATE INDEX idx_correction_attempts_task ON correction_attempts(task_id)",
    "CREATE INDEX idx_correction_attempts_result ON correction_attempts(test_result_id)",
    "CREATE INDEX idx_blockers_task ON blockers(task_id)",
)

LLM_CALLS: tuple[str, ...] = (
    """CREATE TABLE llm_calls (
        id INTEGER PRIMARY KEY,
        task_id INTEGER REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        model TEXT,
        request TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(request)),
        reply_text TEXT,
        stop_reason TEXT,
        input_tokens INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        latency_s REAL NOT NULL DEFAULT 0.0,
        error TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    "CREATE INDEX idx_llm_calls_task ON llm_calls(task_id)",
)

RUNS_AND_AGENTS: tuple[str, ...] = (
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        pid INTEGER NOT NULL,
        started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        heartbeat_at TEXT,
        ended_at TEXT,
        summary TEXT CHECK (summary IS NULL OR json_valid(summary)),
        note TEXT
    )""",
    """CREATE TABLE agents (
        id INTEGER PRIMARY KEY,
        agent_id TEXT NOT NULL,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        agent_type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'idle'
            CHECK (status IN ('idle', 'busy', 'blocked', 'retired')),
        current_task_id INTEGER REFERENCES tasks(id) ON DELETE SET NULL,
        tasks_completed INTEGER NOT NULL DEFAULT 0 CHECK (tasks_completed >= 0),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        retired_at TEXT
    )""",
    """CREATE TABLE task_assignments (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id TEXT NOT NULL,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        assigned_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    "CREATE INDEX idx_runs_project ON runs(project_id)",
    "CREATE INDEX idx_agents_project ON agents(project_id, agent_id)",
    "CREATE INDEX idx_agents_run ON agents(run_id)",
    "CREATE INDEX idx_task_assignments_task ON task_assignments(task_id)",
    "CREATE INDEX idx_task_assignments_run ON task_assignments(run_id)",
)


#: The folder a run works in, resolved at its start, so two projects that point at one folder
#: cannot run at once; indexed over open runs only, the rows the guard reads.
RUN_WORKSPACE: tuple[str, ...] = (
    "ALTER TABLE runs ADD COLUMN workspace TEXT",
    "CREATE INDEX idx_runs_open_workspace ON runs(workspace) WHERE ended_at IS NULL",
)


#: Why a task is blocked, who resolved a blocker, and which upstream task a dependency
#: blocker waits for (so it is released when that task completes). Older rows get a type
#: from their reason's wording and "human" for those already resolved.
BLOCKER_TYPES: tuple[str, ...] = (
    """ALTER TABLE blockers ADD COLUMN blocker_type TEXT NOT NULL DEFAULT 'question'
        CHECK (blocker_type IN ('tests', 'dependency', 'budget', 'conflict', 'question'))""",
    """ALTER TABLE blockers ADD COLUMN resolved_by TEXT
        CHECK (resolved_by IN ('human', 'system'))""",
    """ALTER TABLE blockers ADD COLUMN upstream_task_id INTEGER
        REFERENCES tasks(id) ON DELETE SET NULL""",
    "UPDATE blockers SET blocker_type = 'tests' WHERE reason LIKE 'Tests still failing%'",
    "UPDATE blockers SET blocker_type = 'dependency' WHERE reason LIKE 'Depends on task%'",
    "UPDATE blockers SET resolved_by = 'human' WHERE resolved_at IS NOT NULL",
    """CREATE INDEX idx_blockers_open_upstream ON blockers(upstream_task_id)
        WHERE resolved_at IS NULL""",
)

#: The worker a task asks for (NULL: the assigner decides), what its model calls have cost,
#: and its own budget (NULL: the run's per-task budget).
TASK_WORKER_AND_COST: tuple[str, ...] = (
    """ALTER TABLE tasks ADD COLUMN worker TEXT
        CHECK (worker IN ('backend', 'frontend', 'test'))""",
    "ALTER TABLE tasks ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0 CHECK (cost_usd >= 0)",
    "ALTER TABLE tasks ADD COLUMN budget_usd REAL CHECK (budget_usd >= 0)",
)

#: A call's cost and its cache tokens; token counts become optional (a client that reports
#: no numbers leaves them NULL). SQLite cannot relax NOT NULL in place, so the table is
#: rebuilt and its rows copied.
LLM_CALL_COSTS: tuple[str, ...] = (
    """CREATE TABLE llm_calls_v8 (
        id INTEGER PRIMARY KEY,
        task_id INTEGER REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id TEXT,
        attempt INTEGER NOT NULL DEFAULT 0 CHECK (attempt >= 0),
        model TEXT,
        request TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(request)),
        reply_text TEXT,
        stop_reason TEXT,
        input_tokens INTEGER CHECK (input_tokens >= 0),
        output_tokens INTEGER CHECK (output_tokens >= 0),
        cache_write_tokens INTEGER CHECK (cache_write_tokens >= 0),
        cache_read_tokens INTEGER CHECK (cache_read_tokens >= 0),
        cost_usd REAL CHECK (cost_usd >= 0),
        latency_s REAL NOT NULL DEFAULT 0.0,
        error TEXT,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    """INSERT INTO llm_calls_v8 (id, task_id, agent_id, attempt, model, request, reply_text,
        stop_reason, input_tokens, output_tokens, latency_s, error, created_at)
        SELECT id, task_id, agent_id, attempt, model, request, reply_text, stop_reason,
        input_tokens, output_tokens, latency_s, error, created_at FROM llm_calls""",
    "DROP TABLE llm_calls",
    "ALTER TABLE llm_calls_v8 RENAME TO llm_calls",
    "CREATE INDEX idx_llm_calls_task ON llm_calls(task_id)",
)


#: One row per commit a task made in its own worktree and the merge that integrated it.
COMMITS: tuple[str, ...] = (
    """CREATE TABLE commits (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        run_id INTEGER REFERENCES runs(id) ON DELETE SET NULL,
        sha TEXT NOT NULL,
        branch TEXT NOT NULL,
        merge_sha TEXT,
        message TEXT NOT NULL DEFAULT '',
        files TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(files)),
        insertions INTEGER NOT NULL DEFAULT 0 CHECK (insertions >= 0),
        deletions INTEGER NOT NULL DEFAULT 0 CHECK (deletions >= 0),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
    )""",
    "CREATE INDEX idx_commits_task ON commits(task_id)",
)

__all__ = [
    "BLOCKER_TYPES",
    "COMMITS",
    "CORE_TABLES",
    "LLM_CALLS",
    "LLM_CALL_COSTS",
    "RUNS_AND_AGENTS",
    "RUN_WORKSPACE",
    "TASK_WORKER_AND_COST",
    "TEST_TABLES",
]
