"""Serving training jobs: settings, the job handle, the pool and its worker processes."""
