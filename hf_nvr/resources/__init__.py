"""Package data: the bundled SciFact copy and the instruction library."""
