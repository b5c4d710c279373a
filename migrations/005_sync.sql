-- Up Migration

-- Directory user ↔ target account. `managed` = created or adopted by this connection: only managed accounts
-- are ever deprovisioned. directory_user_id has no foreign key on purpose: the link outlives the directory
-- user, which is how a user gone from the IdP is found. target_id is the target store's id, kept as text
-- so the engine does not depend on how that store keys its rows.
CREATE TABLE links (
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  target_id text NOT NULL,
  directory_user_id uuid NOT NULL,
  -- NULL while the create call is in flight (state 'pending'): a crash there leaves the intent behind, so
  -- the next run links the account the create made instead of creating it again.
  account_id text,
  managed boolean NOT NULL DEFAULT true,
  origin text NOT NULL CHECK (origin IN ('created', 'adopted')),
  state text NOT NULL CHECK (state IN ('pending', 'active', 'deactivated', 'removed')),
  user_name text,
  email text,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, target_id, directory_user_id)
);
CREATE INDEX links_account ON links (target_id, account_id);
CREATE INDEX links_tenant ON links (tenant_id);

-- Target groups this connection created: the only groups it may ever delete.
CREATE TABLE sync_groups (
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  target_id text NOT NULL,
  group_key text NOT NULL,
  group_id text NOT NULL,
  group_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, target_id, group_key)
);

CREATE TABLE sync_runs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'change', 'confirm')),
  mode text NOT NULL CHECK (mode IN ('full', 'incremental')),
  dry_run boolean NOT NULL DEFAULT false,
  status text NOT NULL DEFAULT 'running'
    CHECK (status IN ('running', 'awaiting_confirmation', 'succeeded', 'partial', 'failed', 'cancelled', 'superseded')),
  phase text NOT NULL DEFAULT 'reading_directory'
    CHECK (phase IN ('reading_directory', 'reading_targets', 'planning', 'awaiting_confirmation', 'applying', 'done', 'failed')),
  -- A 'confirm' run applies the plan of the run it confirms, recomputed against the current state.
  confirms_run_id uuid REFERENCES sync_runs(id) ON DELETE SET NULL,
  superseded_by uuid,
  confirmed_by text,
  confirmed_at timestamptz,
  actor text,
  -- The last directory_changes id this run covers; consumed when the run applies cleanly.
  changes_through bigint,
  ops_total integer NOT NULL DEFAULT 0,
  ops_succeeded integer NOT NULL DEFAULT 0,
  ops_failed integer NOT NULL DEFAULT 0,
  ops_skipped integer NOT NULL DEFAULT 0,
  write_calls integer NOT NULL DEFAULT 0,
  managed_users integer,
  deprovisions integer,
  deprovision_threshold integer,
  -- Plan summary: ops by kind and target, what was read, notes on what the rules could not do.
  summary jsonb NOT NULL DEFAULT '{}'::jsonb,
  error text,
  started_at timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  duration_ms integer
);
CREATE INDEX sync_runs_history ON sync_runs (tenant_id, connection_id, started_at DESC, id);
-- At most one running sync per connection, whatever the number of app instances.
CREATE UNIQUE INDEX sync_runs_one_running ON sync_runs (connection_id) WHERE status = 'running';

-- Every planned operation and its outcome. Written before (running) and after (succeeded/failed/skipped)
-- each target call, so a crash leaves an accurate trail.
CREATE TABLE sync_ops (
  id bigserial PRIMARY KEY,
  run_id uuid NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL,
  connection_id uuid NOT NULL,
  seq integer NOT NULL,
  op_key text NOT NULL,
  target_id text NOT NULL,
  kind text NOT NULL,
  step text NOT NULL,
  status text NOT NULL DEFAULT 'planned' CHECK (status IN ('planned', 'running', 'succeeded', 'failed', 'skipped')),
  attempts integer NOT NULL DEFAULT 0,
  directory_user_id uuid,
  account_id text,
  group_name text,
  -- The operation's inputs (never a credential) and what the target answered (ids).
  detail jsonb NOT NULL DEFAULT '{}'::jsonb,
  result jsonb,
  error text,
  started_at timestamptz,
  finished_at timestamptz,
  UNIQUE (run_id, seq),
  UNIQUE (run_id, op_key)
);
CREATE INDEX sync_ops_run_status ON sync_ops (run_id, status, seq);
CREATE INDEX sync_ops_tenant ON sync_ops (tenant_id);

CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connection_id uuid REFERENCES connections(id) ON DELETE SET NULL,
  actor text NOT NULL,
  action text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);

-- Down Migration
DROP TABLE audit_log;
DROP TABLE sync_ops;
DROP TABLE sync_runs;
DROP TABLE sync_groups;
DROP TABLE links;
