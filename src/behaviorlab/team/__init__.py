"""Team mode: a shared MLflow server with basic auth over PostgreSQL, and its users."""
