-- Read-only keys run as a role of their own in the tenant database (SELECT only). Its DSN comes from
-- the host agent when the database is provisioned; for databases made before, the origin asks the
-- agent to make the role the first time a read-only key is used, and keeps the DSN here.
ALTER TABLE databases ADD COLUMN readonly_dsn text;
