-- Up Migration

-- An IdP connection of a tenant ("Configured IDPs"): its SCIM endpoint, optional pull source, rules, schedule.
CREATE TABLE connections (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  provider text NOT NULL
    CHECK (provider IN ('miniorange', 'entra', 'okta', 'onelogin', 'jumpcloud', 'google', 'keycloak', 'generic')),
  -- Pull source: its kind and its credentials/config, sealed (see src/security/crypto.ts). NULL = push only.
  pull_kind text,
  pull_config_sealed text,
  -- User and group sync rules (zod-validated in src/sync/settings.ts); settings_version bumps on every save.
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  settings_version integer NOT NULL DEFAULT 1,
  -- Schedule (preset or cron + time zone); NULL = no schedule.
  schedule jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
CREATE INDEX connections_tenant ON connections (tenant_id);

-- SCIM bearer tokens: only a SHA-256 of each is kept. A rotated token keeps working until expires_at.
CREATE TABLE connection_tokens (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz,
  revoked_at timestamptz,
  last_used_at timestamptz
);
CREATE INDEX connection_tokens_connection ON connection_tokens (connection_id);

-- The IdP mirror. `resource` is the accepted SCIM resource (no id/meta); the columns beside it are what
-- filters, uniqueness and the sync rules need, kept in step with it on every write.
CREATE TABLE directory_users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  user_name text NOT NULL,
  external_id text,
  display_name text,
  given_name text,
  family_name text,
  primary_email text,
  active boolean NOT NULL DEFAULT true,
  resource jsonb NOT NULL,
  -- Where the last write came from: a SCIM push or a pull.
  origin text NOT NULL DEFAULT 'push' CHECK (origin IN ('push', 'pull')),
  -- Bumped on every change; the SCIM ETag is W/"<version>".
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX directory_users_user_name ON directory_users (connection_id, lower(user_name));
CREATE INDEX directory_users_external_id ON directory_users (connection_id, external_id);
CREATE INDEX directory_users_email ON directory_users (connection_id, lower(primary_email));
CREATE INDEX directory_users_order ON directory_users (connection_id, created_at, id);

CREATE TABLE directory_groups (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  display_name text NOT NULL,
  external_id text,
  resource jsonb NOT NULL,
  origin text NOT NULL DEFAULT 'push' CHECK (origin IN ('push', 'pull')),
  version integer NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX directory_groups_display_name ON directory_groups (connection_id, lower(display_name));
CREATE INDEX directory_groups_external_id ON directory_groups (connection_id, external_id);
CREATE INDEX directory_groups_order ON directory_groups (connection_id, created_at, id);

-- One row per membership, never a member array: adding k members costs O(k) whatever the group's size.
CREATE TABLE directory_memberships (
  group_id uuid NOT NULL REFERENCES directory_groups(id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES directory_users(id) ON DELETE CASCADE,
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, user_id)
);
CREATE INDEX directory_memberships_user ON directory_memberships (user_id);

-- Outbox: written in the same transaction as the directory change it describes; the sync engine
-- consumes it (incremental runs) and marks what it has taken.
CREATE TABLE directory_changes (
  id bigserial PRIMARY KEY,
  connection_id uuid NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
  entity text NOT NULL CHECK (entity IN ('user', 'group', 'membership')),
  -- user or group id; for memberships the group id, with the user in member_id
  entity_id uuid NOT NULL,
  member_id uuid,
  action text NOT NULL CHECK (action IN ('created', 'updated', 'deleted', 'added', 'removed')),
  origin text NOT NULL DEFAULT 'push' CHECK (origin IN ('push', 'pull')),
  created_at timestamptz NOT NULL DEFAULT now(),
  consumed_at timestamptz
);
CREATE INDEX directory_changes_pending ON directory_changes (connection_id, id) WHERE consumed_at IS NULL;

-- Down Migration
DROP TABLE directory_changes;
DROP TABLE directory_memberships;
DROP TABLE directory_groups;
DROP TABLE directory_users;
DROP TABLE connection_tokens;
DROP TABLE connections;
