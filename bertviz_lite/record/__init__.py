"""The run record (the contract between engine, CLI, app and tests) and the run cache."""
