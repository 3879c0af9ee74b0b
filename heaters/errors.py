"""Errors that reach the user as one line and an exit code (2: bad usage/input, 1: failed)."""

from __future__ import annotations


class HeatersError(Exception):
    exit_code = 1


class BadInput(HeatersError):
    """The request itself is wrong (unknown id, invalid source, bad flag value): exit 2."""

    exit_code = 2


class OperationFailed(HeatersError):
    """A valid request that could not be carried out: exit 1."""

    exit_code = 1
