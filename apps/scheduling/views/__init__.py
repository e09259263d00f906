"""Scheduling pages. Thin: parse, call one selector/service, render. Access is decided by
the selectors; anything a user may not see answers 404."""
