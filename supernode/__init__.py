"""supernode: the server-side peer of the relay (notebook documents, shared tables, execution).

Not yet implemented beyond this package; see the project's issues.
"""
