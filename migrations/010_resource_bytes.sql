-- Up Migration

-- The size of each stored resource as JSON text, kept by the database on every write. A SCIM list page is
-- cut by bytes (SCIM_MAX_PAGE_BYTES): reading this column instead of serialising up to `count` resources
-- per page to measure them took a count=1000 page of 6 KB users from about 155 ms to about 50 ms of
-- database time on the embedded database.
ALTER TABLE directory_users ADD COLUMN resource_bytes integer GENERATED ALWAYS AS (octet_length(resource::text)) STORED;
ALTER TABLE directory_groups ADD COLUMN resource_bytes integer GENERATED ALWAYS AS (octet_length(resource::text)) STORED;

-- Down Migration

ALTER TABLE directory_groups DROP COLUMN resource_bytes;
ALTER TABLE directory_users DROP COLUMN resource_bytes;
