"""The one way work runs, wherever it runs: `service` (Execution: slot, timeout, cancellation,
metrics, errors; the jobs), `runner` (admission and the worker threads of this process)."""
