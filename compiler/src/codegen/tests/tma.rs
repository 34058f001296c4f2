//! TMA copies of prefetched tiles ([`crate::codegen::tma`]): which loads take them, the
//! tensor maps a kernel then declares, and the barrier pipeline that replaces commit
//! groups.

use super::pipeline::GEMM;
use super::{check_assembles_with, check_no_spills, emit_ok_with, plain};
use crate::abi::TensorMap;
use crate::codegen::{CodegenOptions, MmaLowering, PtxModule};
use crate::ir::{ConstValue, Kernel};
use crate::lower_source;
use crate::target::Arch;

const TMA: CodegenOptions = CodegenOptions { tma: true, ..plain(MmaLowering::Wgmma) };

/// The pipeline tests' GEMM with `BK` columns of `a` per step and the contract on `aligned`.
fn gemm(bk: i64, aligned: &[&str]) -> Kernel {
    let consts = [("BK".to_string(), ConstValue::Int(bk))];
    let mut k = lower_source(GEMM, None, &consts).unwrap_or_else(|e| panic!("test GEMM does not compile: {e}"));
    for name in aligned {
        assert!(k.set_aligned(name, true), "no tensor `{name}`");
    }
    k
}

fn emit(k: &Kernel, arch: Arch, options: &CodegenOptions) -> PtxModule {
    emit_ok_with(k, arch, options)
}

fn bulk_copies(ptx: &str) -> usize {
    ptx.matches("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes").count()
}

fn chunk_copies(ptx: &str) -> usize {
    ptx.matches("cp.async.cg.shared.global").count()
}

fn map(param: usize, box_dims: &[u32]) -> TensorMap {
    TensorMap { param, box_dims: box_dims.to_vec() }
}

#[test]
fn aligned_64_column_tiles_take_one_tensor_map_each() {
    let module = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &TMA);
    assert_eq!(module.tensor_maps, vec![map(0, &[64, 64]), map(1, &[64, 64])]);
}

#[test]
fn aligned_64_column_tiles_are_copied_by_tma_only() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &TMA).ptx;
    // One box per tile, in the loop body: with two stages and products that complete an
    // iteration later, each iteration copies its own tiles.
    assert_eq!((bulk_copies(&ptx), chunk_copies(&ptx), ptx.matches("cp.async.wait_group").count()), (2, 0, 0));
}

#[test]
fn tensor_maps_are_by_value_64_byte_aligned_params() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &TMA).ptx;
    assert_eq!(ptx.matches(".param .align 64 .b8 mm_param_").count(), 2, "{ptx}");
}

#[test]
fn a_stage_waits_on_its_barrier_phase() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &TMA).ptx;
    let count = |s: &str| ptx.matches(s).count();
    assert_eq!(
        (count("mbarrier.init.shared::cta.b64"), count("mbarrier.try_wait.parity"), count("mbarrier.inval")),
        (2, 1, 2)
    );
}

#[test]
fn a_tile_narrower_than_64_columns_stays_on_cp_async() {
    // a's [64, 32] tile is not swizzled; b's [32, 64] is.
    let module = emit(&gemm(32, &["a", "b"]), Arch::Sm90a, &TMA);
    let ptx = &module.ptx;
    assert_eq!(
        (module.tensor_maps, bulk_copies(ptx) > 0, chunk_copies(ptx) > 0),
        (vec![map(1, &[32, 64])], true, true)
    );
}

#[test]
fn unaligned_tensors_take_no_tensor_map() {
    let module = emit(&gemm(64, &["a"]), Arch::Sm90a, &TMA);
    assert_eq!(module.tensor_maps, vec![map(0, &[64, 64])]);
}

#[test]
fn sm_80_takes_no_tensor_map() {
    assert_eq!(emit(&gemm(64, &["a", "b"]), Arch::Sm80, &TMA).tensor_maps, vec![]);
}

#[test]
fn mma_sync_takes_no_tensor_map() {
    let options = CodegenOptions { tma: true, ..plain(MmaLowering::MmaSync) };
    assert_eq!(emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &options).tensor_maps, vec![]);
}

#[test]
fn the_option_turns_tma_off() {
    let options = CodegenOptions { tma: false, ..TMA };
    let module = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &options);
    assert_eq!((module.tensor_maps.len(), bulk_copies(&module.ptx)), (0, 0));
}

#[test]
fn three_stages_copy_one_iteration_ahead_before_the_loop() {
    let src = GEMM.replace("warps(4)", "warps(4) stages(3)");
    let mut k = lower_source(&src, None, &[("BK".to_string(), ConstValue::Int(64))]).unwrap_or_else(|e| panic!("{e}"));
    assert!(k.set_aligned("a", true) && k.set_aligned("b", true));
    assert_eq!(bulk_copies(&emit(&k, Arch::Sm90a, &TMA).ptx), 4);
}

#[test]
fn tma_gemm_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&gemm(64, &["a", "b"]), &TMA));
}

#[test]
fn mixed_tma_and_cp_async_gemm_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&gemm(32, &["a", "b"]), &TMA));
}

const DECOUPLED: CodegenOptions = CodegenOptions { decoupled: true, ..TMA };

fn count(ptx: &str, what: &str) -> usize {
    ptx.matches(what).count()
}

#[test]
fn decoupled_warps_release_stages_on_barriers_instead_of_meeting_each_iteration() {
    let (meet, release) = (
        emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &TMA).ptx,
        emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &DECOUPLED).ptx,
    );
    let counts = |ptx: &str| {
        (count(ptx, "bar.sync"), count(ptx, "mbarrier.arrive.shared::cta.b64"), count(ptx, "mbarrier.try_wait"))
    };
    // One CTA barrier fewer (the loop body's), one arrival per warp, and the issuing
    // thread's wait for the stage it refills.
    let (m, r) = (counts(&meet), counts(&release));
    assert_eq!((r.0 + 1, r.1, r.2), (m.0, 1, m.2 + 1), "with a CTA barrier {m:?}, decoupled {r:?}");
}

#[test]
fn decoupled_free_barriers_take_one_arrival_per_warp() {
    let ptx = emit(&gemm(64, &["a", "b"]), Arch::Sm90a, &DECOUPLED).ptx;
    // Two stages: two full barriers of one arrival, two free ones of the kernel's 4 warps.
    assert_eq!(count(&ptx, "mbarrier.init.shared::cta.b64"), 4, "{ptx}");
}

#[test]
fn a_loop_with_cp_async_copies_keeps_its_cta_barrier_when_decoupled() {
    let k = gemm(32, &["a", "b"]);
    assert_eq!(emit(&k, Arch::Sm90a, &DECOUPLED).ptx, emit(&k, Arch::Sm90a, &TMA).ptx);
}

#[test]
fn decoupled_gemm_assembles_without_spills() {
    check_no_spills(&check_assembles_with(&gemm(64, &["a", "b"]), &DECOUPLED));
}
