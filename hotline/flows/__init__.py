"""The flow engine: graphs loaded from ``flows/*.yaml`` and a pure ``step`` over them."""

from hotline.flows.engine import ActionCall, ActionResult, Engine, Screen, State
from hotline.flows.spec import Graph, Node, Option, load_graph

__all__ = ["ActionCall", "ActionResult", "Engine", "Graph", "Node", "Option", "Screen",
           "State", "load_graph"]
