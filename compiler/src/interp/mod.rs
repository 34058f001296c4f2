//! STUB (interpreter helper replaces): the CPU interpreter, Tile IR's reference semantics.
