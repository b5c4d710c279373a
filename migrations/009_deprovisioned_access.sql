-- Up Migration

-- What deprovisioning took away from a managed account on one target, so that reactivation gives back
-- exactly that: the suspension or deactivation to undo, or the groups the account was removed from (with
-- their ids and names at the time). One row per account and target while the account is deprovisioned; the
-- reactivation that restores it deletes the row.
CREATE TABLE deprovisioned_access (
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  target_id text NOT NULL,
  directory_user_id uuid NOT NULL,
  account_id text NOT NULL,
  -- suspended: org v2 suspend (app access); deactivated: the product's own deactivate (Data Center);
  -- groups-removed: taken out of the groups in removed_groups (products without a deactivate).
  method text NOT NULL CHECK (method IN ('suspended', 'deactivated', 'groups-removed')),
  removed_groups jsonb NOT NULL DEFAULT '[]'::jsonb,
  run_id uuid REFERENCES sync_runs(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (connection_id, target_id, directory_user_id)
);
CREATE INDEX deprovisioned_access_tenant ON deprovisioned_access (tenant_id);

-- A run that applied everything but could not fully remove someone's access ends 'succeeded_with_warnings'.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_status_check
  CHECK (status IN ('running', 'awaiting_confirmation', 'succeeded', 'succeeded_with_warnings', 'partial', 'failed', 'cancelled', 'superseded'));

-- Down Migration

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check;
UPDATE sync_runs SET status = 'succeeded' WHERE status = 'succeeded_with_warnings';
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_status_check
  CHECK (status IN ('running', 'awaiting_confirmation', 'succeeded', 'partial', 'failed', 'cancelled', 'superseded'));
DROP TABLE deprovisioned_access;
