//! Code generation tests. CI has no GPU, so these check the emitted PTX text and, where
//! ptxas is installed, that it assembles for every target without spilling.

mod aligned;
mod bin_sum;
mod dot;
mod emit;
mod errors;
mod gather;
mod groups;
mod kernels;
mod ops;
mod pingpong;
mod pipeline;
mod rescale;
mod specialize;
mod tma;

use super::ptxas::{assemble, available_for_tests, PtxasReport};
use super::{emit_with, CodegenOptions, MmaLowering, PingPong, PtxModule, Specialize};
use crate::ir::builder::KernelBuilder;
use crate::ir::verify::verify;
use crate::ir::{Index, Kernel, ParamId};
use crate::target::Arch;

/// `mma` with every other sm_90a choice off (no TMA, no stage release on mbarriers, no
/// turns, no producer warpgroup): what the tests of one mechanism start from.
pub(super) const fn plain(mma: MmaLowering) -> CodegenOptions {
    CodegenOptions { mma, tma: false, decoupled: false, pingpong: PingPong::Off, specialize: Specialize::Off }
}

/// `kernel`'s PTX for `arch`; the kernel must be valid IR, so a test cannot pass on
/// code generation of IR the front end would never produce.
pub(super) fn emit_ok(kernel: &Kernel, arch: Arch) -> PtxModule {
    emit_ok_with(kernel, arch, &CodegenOptions::default())
}

pub(super) fn emit_ok_with(kernel: &Kernel, arch: Arch, options: &CodegenOptions) -> PtxModule {
    if let Err(e) = verify(kernel) {
        panic!("test kernel `{}` is invalid: {e}", kernel.name);
    }
    match emit_with(kernel, arch, options) {
        Ok(module) => module,
        Err(e) => panic!("emit `{}` for {arch}: {e}", kernel.name),
    }
}

/// ptxas's report for `kernel` on every target; empty (with a notice) when ptxas is
/// missing and not required.
pub(super) fn check_assembles(kernel: &Kernel) -> Vec<(Arch, PtxasReport)> {
    check_assembles_with(kernel, &CodegenOptions::default())
}

pub(super) fn check_assembles_with(kernel: &Kernel, options: &CodegenOptions) -> Vec<(Arch, PtxasReport)> {
    if !available_for_tests(&format!("`{}`", kernel.name)) {
        return Vec::new();
    }
    Arch::ALL
        .into_iter()
        .map(|arch| match assemble(&emit_ok_with(kernel, arch, options).ptx, arch) {
            Ok(report) => {
                eprintln!("{} on {arch}: {} registers", kernel.name, report.registers);
                (arch, report)
            }
            Err(e) => panic!("ptxas on `{}` for {arch}: {e}", kernel.name),
        })
        .collect()
}

pub(super) fn check_no_spills(reports: &[(Arch, PtxasReport)]) {
    let spilling: Vec<_> = reports
        .iter()
        .filter(|(_, r)| r.spill_stores + r.spill_loads + r.stack_bytes > 0)
        .map(|(arch, r)| format!("{arch}: {}", r.raw))
        .collect();
    assert!(spilling.is_empty(), "spills or stack use:\n{}", spilling.join("\n"));
}

/// `[0 .. len]` along every dimension of `shape`.
pub(super) fn whole(b: &mut KernelBuilder, shape: &[u32]) -> Vec<Index> {
    let zero = b.const_i32(0);
    shape.iter().map(|&len| Index::Range { start: zero, len }).collect()
}

/// `grid(dim(rows, 0), 1, 1)`: one program per row of `rows`.
pub(super) fn one_program_grid(b: &mut KernelBuilder, rows: ParamId) {
    b.grid(|b| {
        let n = b.dim(rows, 0);
        let one = b.const_i32(1);
        [n, one, one]
    });
}
