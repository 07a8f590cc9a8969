"""Queries of the process service's aggregates. Repositories never commit.

None yet: validating a model stores nothing. Deployed models and process instances will
have their repositories here.
"""

from __future__ import annotations
