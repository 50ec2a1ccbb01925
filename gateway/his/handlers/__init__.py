"""HIS transaction handlers, one module per family; each registers itself in dispatch.HANDLERS."""
