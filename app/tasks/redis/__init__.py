"""The task backend every replica shares (TASK_BACKEND=redis)."""
