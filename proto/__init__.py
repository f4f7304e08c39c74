"""The contracts every pagewise service imports: events, subjects, streams and consumers.

Nothing here does I/O. A change to a contract is a change in one place, visible to every service.
"""
