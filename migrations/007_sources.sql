-- Up Migration

-- One row per pull of a connection's source (src/sources/pull.ts). `status` says whether the pull saw the
-- IdP's whole directory ('complete'), and only a complete pull may remove what it did not see.
CREATE TABLE pull_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  source_kind text NOT NULL,
  status text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'failed', 'abandoned')),
  phase text NOT NULL DEFAULT 'starting',
  counts jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  -- Bumped after every batch: a 'running' row whose heartbeat is old belongs to a process that died.
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);
CREATE INDEX pull_runs_connection ON pull_runs (connection_id, started_at DESC);
-- At most one pull of a connection runs at a time, whichever instance started it.
CREATE UNIQUE INDEX pull_runs_one_running ON pull_runs (connection_id) WHERE status = 'running';

-- The pull that last saw a directory row. After a complete pull, rows of origin 'pull' whose marker is not
-- that pull's id were not in the IdP any more. A column (not a list in memory) keeps the pull's memory flat.
ALTER TABLE directory_users ADD COLUMN last_pull_id uuid;
ALTER TABLE directory_groups ADD COLUMN last_pull_id uuid;

-- A group's members as the source streams them, staged here until the group is complete, then compared
-- with directory_memberships in set-based SQL. Rows live only while their pull runs.
CREATE TABLE pull_staged_members (
  -- Lets the membership replacement walk a huge group in slices (keyset) instead of all at once.
  seq bigserial PRIMARY KEY,
  pull_id uuid NOT NULL REFERENCES pull_runs(id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  group_id uuid NOT NULL,
  user_external_id text NOT NULL
);
CREATE INDEX pull_staged_members_group ON pull_staged_members (pull_id, group_id, user_external_id);
CREATE INDEX pull_staged_members_seq ON pull_staged_members (pull_id, seq);

-- Down Migration
DROP TABLE pull_staged_members;
ALTER TABLE directory_groups DROP COLUMN last_pull_id;
ALTER TABLE directory_users DROP COLUMN last_pull_id;
DROP TABLE pull_runs;
