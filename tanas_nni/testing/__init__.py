"""Test helpers for plugin authors: the strategy conformance suite is :mod:`tanas_nni.testing.strategy`."""
