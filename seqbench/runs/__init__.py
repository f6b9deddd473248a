"""A run: plan (validate, estimate), execute its trials, store and resume them, record the environment."""
