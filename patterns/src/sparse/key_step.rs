//! The key step of the sparse attention kernels that walk whole 64-key tiles
//! software-pipelined where they can (vertical-slash's slash tiles, block-sparse's key
//! blocks, A-shape's and tri-shape's whole tiles): their `KS` const, which each GPU launch
//! site takes from [`target_consts`]. At 32 a kernel folds every tile masked (A-shape) or in
//! 32-key halves (the others).

use sparsefill_compiler::codegen::MmaLowering;
use sparsefill_compiler::ir::ConstValue;
use sparsefill_compiler::target::Arch;

use super::{block_sparse, local, vertical_slash};

/// The kernels that take a `KS` const.
pub const STEPPED_KERNELS: [&str; 3] = [vertical_slash::plan::ATTEND_KERNEL, block_sparse::KERNEL, local::KERNEL];

/// Keys per softmax step (`KS`) at head dim above 64: 64 where `dot` runs on wgmma (sm_90a)
/// and q, k, v and o are `aligned` (so the launch runs the variant with that contract, whose
/// tiles come by TMA), else 32. A 64-key step runs wider products and walks its unmasked
/// tiles software-pipelined (docs/hopper.md); with mma.sync it spills on sm_80, and the
/// sm_90a variant without the contract, which addresses every copy itself, spills too
/// (vertical-slash: 88 bytes at 255 registers, ptxas 13.0.88), where its 32-key step
/// takes 222.
pub fn key_step(arch: Arch, mma: MmaLowering, aligned: bool) -> usize {
    match (arch, mma, aligned) {
        (Arch::Sm90a, MmaLowering::Wgmma, true) => 64,
        _ => 32,
    }
}

/// Shared memory a program may take for two to fit on an sm_90 SM (H100, H200: 228 KiB an
/// SM, 1 KiB of it reserved per program). The stepped kernels' aligned sm_90a variants
/// must fit two: each is one warpgroup, and alone on an SM it leaves the tensor cores idle
/// while it waits (129 KB, one program per SM, ran 20% slower; session 11, round 2). At
/// `KS = 64` they take three stages (`stages(...)` in their headers), so the walk's copies
/// run one tile ahead of its deferred products, which is 113 KiB: exactly two.
pub const SM90_TWO_PROGRAM_SHARED_BYTES: u32 = 228 * 1024 / 2 - 1024;

/// `consts` of a launch of `kernel` with what the target decides added: the [`key_step`]
/// of the [`STEPPED_KERNELS`], `aligned` saying whether the launch's q, k, v and o meet
/// the contract. Every GPU loader of these kernels takes its consts from here.
pub fn target_consts(
    kernel: &str,
    consts: &[(String, ConstValue)],
    arch: Arch,
    mma: MmaLowering,
    aligned: bool,
) -> Vec<(String, ConstValue)> {
    let mut out = consts.to_vec();
    if STEPPED_KERNELS.contains(&kernel) {
        out.push(("KS".to_string(), ConstValue::Int(key_step(arch, mma, aligned) as i64)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_step_is_64_only_on_wgmma_with_aligned_tensors() {
        let steps = [
            (Arch::Sm90a, MmaLowering::Wgmma, true),
            (Arch::Sm90a, MmaLowering::Wgmma, false),
            (Arch::Sm90a, MmaLowering::MmaSync, true),
            (Arch::Sm80, MmaLowering::Wgmma, true),
        ]
        .map(|(arch, mma, aligned)| key_step(arch, mma, aligned));
        assert_eq!(steps, [64, 32, 32, 32]);
    }

    #[test]
    fn only_the_stepped_kernels_get_a_key_step() {
        let ks = |kernel| target_consts(kernel, &[], Arch::Sm90a, MmaLowering::Wgmma, true);
        assert_eq!(ks(block_sparse::KERNEL), [("KS".to_string(), ConstValue::Int(64))]);
        assert_eq!(ks(vertical_slash::plan::ATTEND_KERNEL), [("KS".to_string(), ConstValue::Int(64))]);
        assert_eq!(ks(local::KERNEL), [("KS".to_string(), ConstValue::Int(64))]);
        assert!(ks("sparse_strided").is_empty());
    }
}
