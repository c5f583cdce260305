"""Cap'n Web for Python: the protocol core, stubs, and the transports that carry it."""

from dotdo.transport.target import RpcTarget

__all__ = ["RpcTarget"]
