//! STUB (codegen helper replaces): Tile IR → LLVM IR → PTX through inkwell.
