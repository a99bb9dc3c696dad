"""Date formats of the test project, by language (FORMAT_MODULE_PATH)."""
