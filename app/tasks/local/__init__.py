"""The task backend of this process (TASK_BACKEND=memory, the default)."""
