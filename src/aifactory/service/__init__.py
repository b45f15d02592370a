"""Use cases of the service: each route calls one of these, and they call the store and engine."""
