//! `sparsefill demo`: the foundation kernels (vector_add, softmax, rmsnorm) through the
//! whole pipeline, checked against their f64 references on fresh random inputs with
//! outputs poisoned first; then every attention pattern on structured synthetic heads
//! (`patterns`). On a machine with a GPU the checks (and the foundation kernels'
//! timings) run there; without one they run on the CPU interpreter.

mod patterns;

use super::stdout;
use super::table::Table;
use super::CliError;
use rand::{Rng, SeedableRng};
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_patterns::sparse::local::query_blocks::Backend;
use sparsefill_patterns::{compare, Shipped};
use std::time::Instant;

pub fn run() -> Result<(), CliError> {
    let gpu = super::gpu::detect()?;
    let mut compile_table =
        Table::new(&["kernel", "consts", "front end ms", "sm_80 PTX ms", "sm_90a PTX ms", "ptxas sm_90a"]);
    let mut check_table = Table::new(&["kernel", "backend", "shape", "accuracy vs f64", "result"]);
    let (mut failed, mut total) = (0, 0);
    let mut rng = rand::rngs::StdRng::from_os_rng();

    for kernel in Shipped::ALL {
        let shape = kernel.bench_shape();
        let consts = kernel.consts_for(&shape);
        let t0 = Instant::now();
        let ir = lower_source(kernel.source(), None, &consts)?;
        let front_ms = ms(t0);
        let mut ptx_ms = Vec::new();
        let mut sm90_ptx = String::new();
        for arch in Arch::ALL {
            let t = Instant::now();
            let module = compile_ir(&ir, arch)?;
            ptx_ms.push(format!("{:.1}", ms(t)));
            sm90_ptx = module.ptx;
        }
        let ptxas_cell = match ptxas::find_ptxas() {
            None => "ptxas not found".to_string(),
            Some(_) => match ptxas::assemble(&sm90_ptx, Arch::Sm90a) {
                Ok(r) => format!("{} regs, {} spill bytes", r.registers, r.spill_stores + r.spill_loads),
                Err(e) => format!("FAILED: {e}"),
            },
        };
        compile_table.row(vec![
            kernel.name().into(),
            consts.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(","),
            format!("{front_ms:.1}"),
            ptx_ms[0].clone(),
            ptx_ms[1].clone(),
            ptxas_cell,
        ]);

        for (shape, block) in kernel.small_cases() {
            let mut case = kernel.case(&shape, block, &mut rng);
            let ir = lower_source(kernel.source(), None, &case.consts)?;
            interp::run(&ir, &mut case.args)?;
            let ArgValue::Tensor(out) = &case.args[case.output] else { continue };
            let acc = compare(out, &kernel.reference(&case));
            let ok = acc.passes(kernel.tolerance());
            total += 1;
            failed += usize::from(!ok);
            check_table.row(vec![
                kernel.name().into(),
                "interpreter".into(),
                format!("{shape:?}{}", block.map(|b| format!(" BLOCK={b}")).unwrap_or_default()),
                acc.to_string(),
                if ok { "ok".into() } else { "FAIL".into() },
            ]);
        }
        if let Some(gpu) = &gpu {
            let (rows, bad) = super::gpu::check_and_time(gpu, kernel, &mut rng)?;
            total += rows.len();
            failed += bad;
            for row in rows {
                check_table.row(row);
            }
        }
    }
    stdout::line(&format!("Compilation (.tile → Tile IR → LLVM → PTX):\n{}", compile_table.render()))?;
    stdout::line(&format!(
        "Checks against the f64 reference (fresh random inputs, outputs poisoned with NaN):\n{}",
        check_table.render()
    ))?;
    let (backend, backend_name) = match &gpu {
        Some(gpu) if cfg!(feature = "gpu") => (gpu.backend(), "GPU"),
        _ => (Backend::Interp, "interpreter"),
    };
    let runs = patterns::run(&backend, backend_name, rng.random())?;
    total += runs.total;
    failed += runs.failed;
    stdout::line(&format!(
        "Attention patterns (S {}, {} heads, {} kv heads, D {}, the synthetic generator's mixed heads; each \
         output against f64 dense attention over the keys it kept, and what it loses against dense):\n{}",
        patterns::LEN,
        patterns::HEADS,
        patterns::KV_HEADS,
        patterns::HEAD_DIM,
        runs.table.render()
    ))?;
    if failed > 0 {
        return Err(CliError::DemoFailed { failed, total });
    }
    Ok(())
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
