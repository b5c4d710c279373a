-- Up Migration

-- One row per Jira site that installed the app (Connect clientKey), or a local development tenant.
CREATE TABLE tenants (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  client_key text NOT NULL UNIQUE,
  base_url text NOT NULL,
  product_type text NOT NULL DEFAULT 'jira',
  -- The install payload without its shared secret, which lives sealed in shared_secret_sealed.
  client_info jsonb NOT NULL DEFAULT '{}'::jsonb,
  shared_secret_sealed text NOT NULL,
  origin text NOT NULL DEFAULT 'connect' CHECK (origin IN ('connect', 'local')),
  installed_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  uninstalled_at timestamptz
);

-- Other values ACE keeps per tenant (OAuth2 tokens, Forge associations); rarely used.
CREATE TABLE connect_store (
  client_key text NOT NULL,
  key text NOT NULL,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (client_key, key)
);

-- Down Migration
DROP TABLE connect_store;
DROP TABLE tenants;
