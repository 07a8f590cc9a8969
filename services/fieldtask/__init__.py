"""Field task service: officers' visits, surveys, post-loan checks and overdue follow-ups."""

NAME = "fieldtask"
