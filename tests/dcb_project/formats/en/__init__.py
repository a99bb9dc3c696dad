"""English date formats of the test project."""
