"""Thin views: parse input, call a selector (access) and a service (writes), render."""
