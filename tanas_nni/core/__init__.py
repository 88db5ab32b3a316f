"""The core every stage stands on: one-line errors, typed configs, atomic records, logging and progress events.

Nothing here imports another part of the package.
"""
