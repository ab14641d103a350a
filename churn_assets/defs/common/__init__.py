"""Resources and helpers shared by every domain (no domain imports another domain)."""
