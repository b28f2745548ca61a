"""Memory estimate, placement and ranking: which build of which model fits, and how.

Pure functions over plain dataclasses (hardware, catalog, placement): no I/O.
"""

from localqwen.plan.rank import PlanOptions, choose, plan_all, plan_model
from localqwen.plan.types import Candidate, DeviceUse

__all__ = ["Candidate", "DeviceUse", "PlanOptions", "choose", "plan_all", "plan_model"]
