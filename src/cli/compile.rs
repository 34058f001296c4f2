//! `sparsefill compile`: print one stage of the pipeline for a .tile file.

use super::{CliError, Emit};
use sparsefill_compiler::codegen::cuobjdump::sass;
use sparsefill_compiler::codegen::ptxas::{assemble_with, find_ptxas, PtxasError, PtxasReport};
use sparsefill_compiler::codegen::{producer_split, CodegenOptions, Specialize};
use sparsefill_compiler::ir::{ConstValue, DType};
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::{check, compile_ir_with, ir, passes, syntax, CompileError};
use std::path::Path;

/// What `compile` produces: the stage to print, for which target and lowering, and
/// whether ptxas checks the PTX.
pub struct Target<'a> {
    pub arch: &'a str,
    pub emit: Emit,
    pub options: CodegenOptions,
    pub ptxas: bool,
}

pub fn run(
    file: &Path,
    kernel: Option<&str>,
    consts: &[String],
    aligned: &[String],
    target: Target<'_>,
) -> Result<String, CliError> {
    let Target { arch, emit, options, ptxas } = target;
    let arch: Arch = arch.parse()?;
    if ptxas && matches!(emit, Emit::Ast | Emit::Ir) {
        return Err(CliError::PtxasStage { emit: format!("{emit:?}").to_lowercase() });
    }
    let consts = consts.iter().map(|c| parse_const(c)).collect::<Result<Vec<_>, _>>()?;
    let src = std::fs::read_to_string(file).map_err(|source| CliError::Read { path: file.to_path_buf(), source })?;
    let name = file.display().to_string();
    let rendered = |d: sparsefill_compiler::diag::Diagnostics| CliError::Source { rendered: d.render(&name, &src) };
    let ast = syntax::parse(&src).map_err(rendered)?;
    if emit == Emit::Ast {
        return Ok(syntax::print_ast(&ast));
    }
    let mut kernel_ir = check::specialize(&ast, kernel, &consts).map_err(rendered)?;
    for name in aligned {
        if !kernel_ir.set_aligned(name, true) {
            let tensors = kernel_ir.params.iter().filter(|p| matches!(p, ir::Param::Tensor { .. }));
            let names: Vec<&str> = tensors.map(ir::Param::name).collect();
            return Err(CliError::Aligned {
                given: name.clone(),
                kernel: kernel_ir.name.clone(),
                tensors: names.join(", "),
            });
        }
    }
    ir::verify::verify(&kernel_ir).map_err(CompileError::from)?;
    passes::run_default(&mut kernel_ir);
    ir::verify::verify(&kernel_ir).map_err(CompileError::from)?;
    if matches!(emit, Emit::Llvm | Emit::Ptx | Emit::Sass) && options.specialize != Specialize::Off {
        if let Err(why) = producer_split(&kernel_ir, arch, &options) {
            eprintln!("note: `{}` gets no producer warpgroup: {why}", kernel_ir.name);
        }
    }
    if emit == Emit::Ir {
        return Ok(ir::print::print_kernel(&kernel_ir));
    }
    let module = compile_ir_with(&kernel_ir, arch, &options)?;
    // What a launch reserves, which the PTX text leaves to the runtime: whether two
    // programs fit an SM is read here, not from the PTX.
    eprintln!(
        "note: `{}` launches {} threads a program with {} bytes of dynamic shared memory",
        kernel_ir.name, module.threads, module.shared_bytes
    );
    if emit == Emit::Sass || ptxas {
        let assembler = find_ptxas().ok_or(PtxasError::NotFound)?;
        let assembled = assemble_with(&assembler, &module.ptx, arch.name())?;
        if ptxas {
            let report = assembled.report()?;
            eprintln!("note: {}", ptxas_note(&kernel_ir.name, arch, &report));
            if let Some(line) = report.wgmma_stall() {
                eprintln!("note: ptxas held back the wgmma pipeline: {}", line.trim());
            }
        }
        if emit == Emit::Sass {
            return Ok(sass(&assembled.cubin)?);
        }
    }
    Ok(if emit == Emit::Llvm { module.llvm_ir } else { module.ptx })
}

/// ptxas's resource report in a line. The registers are the launch's: with a producer
/// warpgroup, `setmaxnreg` then moves them between the warpgroups.
pub fn ptxas_note(kernel: &str, arch: Arch, report: &PtxasReport) -> String {
    format!(
        "ptxas for {}: `{kernel}` takes {} registers a thread at launch, {} bytes of spill stores, {} of spill loads, {} of stack",
        arch.name(),
        report.registers,
        report.spill_stores,
        report.spill_loads,
        report.stack_bytes
    )
}

/// `NAME=VALUE` where VALUE is an integer, `true`/`false` or a dtype name (for a `dtype` const).
pub fn parse_const(given: &str) -> Result<(String, ConstValue), CliError> {
    let err = |why: &str| CliError::Const { given: given.to_string(), why: why.to_string() };
    let (name, value) = given.split_once('=').ok_or_else(|| err("expected NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(err("the name must be an identifier"));
    }
    let value = match value.trim() {
        "true" => ConstValue::Bool(true),
        "false" => ConstValue::Bool(false),
        v => match (v.parse(), DType::from_name(v)) {
            (Ok(i), _) => ConstValue::Int(i),
            (_, Some(d)) => ConstValue::DType(d),
            _ => {
                let why = format!("the value must be an integer, `true`, `false` or a dtype ({})", DType::names());
                return Err(err(&why));
            }
        },
    };
    Ok((name.to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_int_and_bool_consts() {
        assert_eq!(parse_const("BLOCK=64").unwrap(), ("BLOCK".to_string(), ConstValue::Int(64)));
        assert_eq!(parse_const("CAUSAL=false").unwrap(), ("CAUSAL".to_string(), ConstValue::Bool(false)));
    }

    #[test]
    fn parses_dtype_consts() {
        assert_eq!(parse_const("DT=f16").unwrap(), ("DT".to_string(), ConstValue::DType(DType::F16)));
    }

    #[test]
    fn rejects_const_without_value() {
        assert_eq!(parse_const("BLOCK").unwrap_err().to_string(), "invalid --const `BLOCK`: expected NAME=VALUE");
    }

    #[test]
    fn rejects_non_numeric_const() {
        assert_eq!(
            parse_const("BLOCK=big").unwrap_err().to_string(),
            "invalid --const `BLOCK=big`: the value must be an integer, `true`, `false` or a dtype \
             (bool, i32, f16, bf16, f32)"
        );
    }
}
