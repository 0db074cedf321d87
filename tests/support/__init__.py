"""Test support code shared by several test folders (loopback servers, builders)."""
