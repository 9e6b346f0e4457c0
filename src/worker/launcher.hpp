// The background worker's registration, called from _PG_init (src/forgea_audit.cpp).
#pragma once

// Registers the worker's launcher; called from _PG_init while shared_preload_libraries loads.
void fa_register_retention_worker();
