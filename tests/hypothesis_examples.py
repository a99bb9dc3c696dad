"""Make a Hypothesis test prove it ran: count its passing examples and fail below a floor.

Hypothesis stops quietly early when its strategies filter too much or a deadline or
database setting changes, and a property test that ran 3 examples passes like one that
ran 300. `@examples_at_least(n)` over `@given` counts the examples that ran to the end
(through `test.hypothesis.inner_test`, the hook Hypothesis keeps for wrapping the inner
test) and fails the test, saying how many ran, when fewer than n did.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def examples_at_least(minimum: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate a @given test (put it above @given and @settings)."""

    def decorate(given_test: Callable[..., None]) -> Callable[..., None]:
        inner = given_test.hypothesis.inner_test  # type: ignore[attr-defined]
        passed = [0]

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> None:
            inner(*args, **kwargs)
            passed[0] += 1

        given_test.hypothesis.inner_test = counted  # type: ignore[attr-defined]

        @functools.wraps(given_test)
        def run(*args: Any, **kwargs: Any) -> None:
            passed[0] = 0
            given_test(*args, **kwargs)
            assert passed[0] >= minimum, f"only {passed[0]} examples passed to the end; this test needs {minimum}"

        return run

    return decorate
