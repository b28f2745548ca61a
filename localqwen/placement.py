"""Moved to `localqwen.plan.placement`; `bench/` (being rewritten for issue 11) still imports it
from here. Drop this file once it imports `localqwen.plan.placement`."""

from localqwen.plan.placement import Placement

__all__ = ["Placement"]
