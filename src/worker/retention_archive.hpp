// Retention's archiving, as the worker's loop (worker_loop.cpp) calls it.
#pragma once

// Runs retention once: a run row, one transaction per batch, the run row completed.
void fa_retention_run_once();

// After an error: the run's partial work is committed batch by batch; say what failed.
void fa_retention_record_error(const char *message);
