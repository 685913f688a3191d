"""The runtime: supervisors, restart strategies, backoff, stable handles, breakers, introspection."""

from supervision.actor import ActorContext, SupervisedActor
from supervision.errors import (
    ActorCrashed,
    ActorError,
    ActorUnavailable,
    AskTimeout,
    InjectedCrash,
    RestartIntensityExceeded,
)
from supervision.handle import Handle
from supervision.spec import Backoff, ChildSpec, Intensity, Restart, RestartStrategy, supervisor_spec
from supervision.supervisor import Supervisor
from supervision.tree import Tree, current_tree, start_tree, stop_tree

__all__ = [
    "ActorContext",
    "ActorCrashed",
    "ActorError",
    "ActorUnavailable",
    "AskTimeout",
    "Backoff",
    "ChildSpec",
    "Handle",
    "InjectedCrash",
    "Intensity",
    "Restart",
    "RestartIntensityExceeded",
    "RestartStrategy",
    "SupervisedActor",
    "Supervisor",
    "Tree",
    "current_tree",
    "start_tree",
    "stop_tree",
    "supervisor_spec",
]
