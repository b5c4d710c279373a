-- Up Migration

-- A Connect-on-Forge install (the app deployed with manifest.yml) adds `installationId`, the Forge
-- installation ARI, to the signed /installed payload. It is kept beside the tenant so an operator can tell
-- which flavour installed a site and match it with Atlassian's records; NULL for plain Connect and local tenants.
ALTER TABLE tenants ADD COLUMN forge_installation_id text;

-- Down Migration
ALTER TABLE tenants DROP COLUMN forge_installation_id;
