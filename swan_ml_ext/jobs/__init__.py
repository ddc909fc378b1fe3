"""The engine-free core: job model, validation, store, service and monitor."""
