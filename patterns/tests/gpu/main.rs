//! GPU tests of the kernels in patterns/, one binary (each test binary carries a
//! statically linked LLVM, and the GPU pack has a size limit). They run only with
//! `--features gpu`, on the GPU machine (docs/gpu.md).
#![cfg(feature = "gpu")]

mod attention;
mod bin_sum;
mod block_sparse;
mod device;
mod dot;
mod exact;
mod gather;
mod groups;
mod local;
mod pair_union;
mod scan;
mod shipped;
mod vertical_slash;
