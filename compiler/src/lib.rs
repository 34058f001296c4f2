//! sparsefill-compiler: the `.tile` language from source text to PTX.
//!
//! ```text
//! source ─syntax::parse─▶ AST ─check::specialize─▶ Tile IR ─passes─▶ Tile IR
//!    Tile IR ─interp─▶ CPU results (the reference semantics)
//!    Tile IR ─codegen─▶ LLVM IR ─NVPTX─▶ PTX
//! ```
//! See docs/ARCHITECTURE.md for each layer's invariants.

pub mod abi;
pub mod args;
pub mod check;
pub mod codegen;
pub mod diag;
pub mod interp;
pub mod ir;
pub mod passes;
pub mod syntax;
pub mod tensor;
