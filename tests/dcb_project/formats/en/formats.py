"""Date-times to the second in DCB's admin, so its last_run_at can be matched to a beatd run."""

DATETIME_FORMAT = "Y-m-d H:i:s"
