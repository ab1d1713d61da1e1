"""The database: table definitions, connections, idempotent writes and reads into DataFrames."""
