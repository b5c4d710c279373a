-- Up Migration

-- The Atlassian products (and the organization API) a tenant syncs into. Credentials are sealed with the
-- app's SecretBox (AES-256-GCM, see src/security/crypto.ts); settings hold only what is not secret.
CREATE TABLE targets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name text NOT NULL,
  kind text NOT NULL
    CHECK (kind IN ('jira-cloud', 'confluence-cloud', 'bitbucket-cloud', 'bitbucket-dc', 'jira-dc', 'confluence-dc', 'atlassian-org')),
  base_url text NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}'::jsonb,
  credentials_sealed text NOT NULL,
  -- Confluence Cloud on the same Atlassian site as a Jira Cloud target shares its users and groups: it
  -- points at that Jira target, and the engine writes users and groups once, through Jira.
  shares_directory_with uuid REFERENCES targets(id) ON DELETE SET NULL,
  enabled boolean NOT NULL DEFAULT true,
  last_check jsonb,
  last_checked_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, name)
);
CREATE INDEX targets_tenant ON targets (tenant_id, kind);

-- Down Migration
DROP TABLE targets;
