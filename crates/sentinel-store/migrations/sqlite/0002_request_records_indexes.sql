-- Request records are the one table written on every data-plane request,
-- so each index on it is paid for per request. Admin search always filters
-- by organization and pages newest first, optionally by environment: it
-- uses request_records_org and request_records_env. The key and time
-- indexes served no query (SQLite never chose them for the search) and are
-- dropped. Key and time filters are applied while walking one of the two
-- indexes above.
DROP INDEX IF EXISTS request_records_key;
DROP INDEX IF EXISTS request_records_time;
