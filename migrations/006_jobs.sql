-- Up Migration

-- The durable sync queue (see docs/jobs.md). One row per sync job; a job is retried in place (attempt counts up).
-- Every instance polls it with SELECT ... FOR UPDATE SKIP LOCKED; a running job holds a lease that its worker
-- renews by heartbeat, so a job whose instance died is taken over once the lease expires.
CREATE TABLE sync_jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  -- What asked for it first; later requests that joined it are counted in `requests`.
  trigger text NOT NULL CHECK (trigger IN ('manual', 'schedule', 'change')),
  mode text NOT NULL CHECK (mode IN ('full', 'incremental')),
  dry_run boolean NOT NULL DEFAULT false,
  -- queued → running → succeeded | dead (attempts used up) | cancelled; a failed attempt goes back to queued,
  -- or to superseded when another queued job of the connection already covers it (superseded_by).
  status text NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'running', 'succeeded', 'dead', 'superseded', 'cancelled')),
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL CHECK (max_attempts >= 1),
  run_after timestamptz NOT NULL DEFAULT now(),
  requests integer NOT NULL DEFAULT 1,
  lease_owner text,
  lease_token uuid,
  lease_expires_at timestamptz,
  heartbeat_at timestamptz,
  cancel_requested boolean NOT NULL DEFAULT false,
  -- Phase and counts the handler reports while it runs (read by the admin UI).
  progress jsonb,
  last_error text,
  superseded_by uuid REFERENCES sync_jobs(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
-- At most one waiting job per connection (and kind of run) and one running job per connection: a second
-- Synchronize joins the existing job instead of starting another.
CREATE UNIQUE INDEX sync_jobs_one_queued ON sync_jobs (connection_id, dry_run) WHERE status = 'queued';
CREATE UNIQUE INDEX sync_jobs_one_running ON sync_jobs (connection_id) WHERE status = 'running';
CREATE INDEX sync_jobs_ready ON sync_jobs (run_after) WHERE status = 'queued';
CREATE INDEX sync_jobs_leases ON sync_jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX sync_jobs_connection ON sync_jobs (tenant_id, connection_id, created_at DESC);
CREATE INDEX sync_jobs_finished ON sync_jobs (finished_at) WHERE finished_at IS NOT NULL;

-- Each start of a job on an instance, and how it ended: the trail behind retries and take-overs.
CREATE TABLE sync_job_attempts (
  job_id uuid NOT NULL REFERENCES sync_jobs(id) ON DELETE CASCADE,
  attempt integer NOT NULL,
  instance text NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  outcome text CHECK (outcome IN ('succeeded', 'failed', 'lease_expired', 'released', 'cancelled')),
  error text,
  PRIMARY KEY (job_id, attempt)
);

-- The schedule each connection had when an instance first saw it: slots before armed_at never fire, so a
-- new or edited schedule does not fire for a time that passed before it existed.
CREATE TABLE schedule_state (
  connection_id uuid PRIMARY KEY REFERENCES connections(id) ON DELETE CASCADE,
  schedule jsonb NOT NULL,
  armed_at timestamptz NOT NULL,
  last_slot_at timestamptz
);

-- One row per fired schedule slot: the primary key is what makes a slot fire once across all instances.
CREATE TABLE schedule_claims (
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  slot_at timestamptz NOT NULL,
  claimed_by text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  job_id uuid REFERENCES sync_jobs(id) ON DELETE SET NULL,
  -- true when a sync of the connection was already queued or running and the slot joined it
  joined boolean NOT NULL DEFAULT false,
  PRIMARY KEY (connection_id, slot_at)
);

-- Down Migration
DROP TABLE schedule_claims;
DROP TABLE schedule_state;
DROP TABLE sync_job_attempts;
DROP TABLE sync_jobs;
