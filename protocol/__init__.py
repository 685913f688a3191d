"""The language actors speak: frozen msgspec Structs for messages, events, config and wire types.

Import from the submodules (protocol.envelope, protocol.config, ...): this package imports nothing,
so the runtime's own imports never pull in configuration code.
"""
