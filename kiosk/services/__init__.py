"""Use cases: each takes its collaborators in the constructor and runs one atomic transaction."""
