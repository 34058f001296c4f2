//! The NVPTX target: LLVM's one-time initialisation and a target machine per `emit` call.
//!
//! LLVM's target registry is process-global and must be initialised once before any
//! thread looks a target up; everything else (context, module, target machine) is made
//! per call, which is what lets `emit` run on many threads at once.

use std::sync::LazyLock;

use inkwell::targets::{CodeModel, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple};
use inkwell::OptimizationLevel;

use super::CodegenError;
use crate::target::Arch;

pub(super) const TRIPLE: &str = "nvptx64-nvidia-cuda";
/// PTX ISA 8.0: the oldest that knows sm_90a, and accepted by the CUDA 13.0 driver.
const FEATURES: &str = "+ptx80";

static NVPTX_READY: LazyLock<()> = LazyLock::new(|| Target::initialize_nvptx(&InitializationConfig::default()));

fn cpu(arch: Arch) -> &'static str {
    match arch {
        Arch::Sm80 => "sm_80",
        Arch::Sm90a => "sm_90a",
    }
}

pub(super) fn machine(arch: Arch) -> Result<TargetMachine, CodegenError> {
    LazyLock::force(&NVPTX_READY);
    let triple = TargetTriple::create(TRIPLE);
    let target = Target::from_triple(&triple).map_err(|e| CodegenError::Llvm(format!("no NVPTX target: {e}")))?;
    target
        .create_target_machine(
            &triple,
            cpu(arch),
            FEATURES,
            OptimizationLevel::Aggressive,
            RelocMode::Default,
            CodeModel::Default,
        )
        .ok_or_else(|| CodegenError::Llvm(format!("cannot create an NVPTX target machine for {arch}")))
}
