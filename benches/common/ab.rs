//! `bench-kernels --ab A/B`: the two code generation options to time against each other,
//! each in `CodegenOptions` syntax (`specialize=early/specialize=producer`).

use sparsefill_compiler::codegen::CodegenOptions;

/// The two sides of `given`, each with its options, or an error naming what is wrong.
pub fn parse_ab(given: &str) -> Result<[(String, CodegenOptions); 2], String> {
    let (a, b) = given.split_once('/').ok_or_else(|| format!("--ab `{given}`: expected two options as A/B"))?;
    let side = |s: &str| -> Result<(String, CodegenOptions), String> {
        let options = s.parse::<CodegenOptions>().map_err(|e| format!("--ab `{s}`: {e}"))?;
        Ok((s.trim().to_string(), options))
    };
    Ok([side(a)?, side(b)?])
}
