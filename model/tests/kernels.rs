//! The CUDA backend's `.tile` kernels (model/kernels/ and the specializations of `sparsefill_model::kernels`)
//! on the CPU interpreter against the CPU backend's operations on fresh random inputs, outputs poisoned with
//! NaN so an element a kernel skips fails; and through PTX to ptxas without spills on every target.

use rand::{Rng, SeedableRng};
use sparsefill_compiler::codegen::ptxas;
use sparsefill_compiler::interp::{self, ArgValue};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::target::Arch;
use sparsefill_compiler::tensor::HostTensor;
use sparsefill_compiler::{compile_ir, lower_source};
use sparsefill_model::backend::{AttentionCall, CpuBackend, CpuTensor, KvShape};
use sparsefill_model::kernels::{self, KernelSpec};
use sparsefill_model::rope::{Rope, RopeScaling};
use sparsefill_model::Backend;

/// bf16 outputs against an f32/f64 reference: relative to the largest reference magnitude.
const TOLERANCE: f64 = 1e-2;

fn rng(seed: u64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// Random bf16 values in [-2, 2].
fn random(shape: &[usize], rng: &mut impl Rng) -> HostTensor {
    let n = shape.iter().product();
    HostTensor::from_f64(DType::BF16, shape, (0..n).map(|_| rng.random_range(-2.0..2.0)).collect())
}

fn poisoned(dtype: DType, shape: &[usize]) -> HostTensor {
    HostTensor::filled(dtype, shape, f64::NAN)
}

fn cpu(t: &HostTensor, rows: usize) -> CpuTensor {
    let cols = t.data.len() / rows.max(1);
    CpuTensor::new(rows, cols, t.data.iter().map(|&v| v as f32).collect()).unwrap()
}

fn run(spec: &KernelSpec, args: &mut [ArgValue]) {
    let ir = lower_source(spec.source, spec.kernel, &spec.consts).unwrap_or_else(|e| panic!("{:?}: {e}", spec.kernel));
    interp::run(&ir, args).unwrap_or_else(|e| panic!("{:?} {:?}: {e}", spec.kernel, spec.consts));
}

fn tensor(args: &[ArgValue], index: usize) -> &HostTensor {
    match &args[index] {
        ArgValue::Tensor(t) => t,
        _ => panic!("argument {index} is not a tensor"),
    }
}

/// Fails on any NaN (an element never written) or an error above [`TOLERANCE`] of the largest reference value.
fn check(what: &str, got: &[f64], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{what}: lengths differ");
    if let Some(i) = got.iter().position(|v| !v.is_finite()) {
        panic!("{what}: element {i} is {} (never written?)", got[i]);
    }
    let scale = expected.iter().fold(0f64, |m, v| m.max(v.abs() as f64)).max(1e-30);
    let err = got.iter().zip(expected).map(|(g, e)| (g - *e as f64).abs()).fold(0.0, f64::max) / scale;
    assert!(err <= TOLERANCE, "{what}: relative max error {err:.3e} > {TOLERANCE}");
}

#[test]
fn embed_gathers_the_token_rows() {
    let mut r = rng(1);
    let table = random(&[50, 1100], &mut r);
    let tokens = [7u32, 0, 49, 7];
    let ids = HostTensor::from_f64(DType::I32, &[4], tokens.iter().map(|&t| t as f64).collect());
    let mut args = vec![
        ArgValue::Tensor(table.clone()),
        ArgValue::Tensor(ids),
        ArgValue::Tensor(poisoned(DType::BF16, &[4, 1100])),
    ];
    run(&kernels::embed(1100), &mut args);
    let expected = CpuBackend.embed(&cpu(&table, 50), &tokens).unwrap();
    check("embed", &tensor(&args, 2).data, &expected.data);
}

#[test]
fn swiglu_matches_cpu() {
    let mut r = rng(2);
    let (gate, up) = (random(&[3, 700], &mut r), random(&[3, 700], &mut r));
    let flat = |t: &HostTensor| HostTensor { shape: vec![t.data.len()], ..t.clone() };
    let mut args = vec![
        ArgValue::Tensor(flat(&gate)),
        ArgValue::Tensor(flat(&up)),
        ArgValue::Tensor(poisoned(DType::BF16, &[2100])),
    ];
    run(&kernels::swiglu(), &mut args);
    let expected = CpuBackend.swiglu(&cpu(&gate, 3), &cpu(&up, 3)).unwrap();
    check("swiglu", &tensor(&args, 2).data, &expected.data);
}

#[test]
fn add_matches_the_residual_add() {
    let mut r = rng(3);
    let (x, y) = (random(&[2, 1500], &mut r), random(&[2, 1500], &mut r));
    let mut args = vec![
        ArgValue::Tensor(HostTensor { shape: vec![3000], ..x.clone() }),
        ArgValue::Tensor(HostTensor { shape: vec![3000], ..y.clone() }),
    ];
    run(&kernels::add(), &mut args);
    let mut expected = cpu(&x, 2);
    CpuBackend.add_rows(&mut expected, 0, &cpu(&y, 2)).unwrap();
    check("add", &tensor(&args, 0).data, &expected.data);
}

#[test]
fn add_bias_matches_a_biased_matmul() {
    let mut r = rng(4);
    let (x, bias) = (random(&[3, 1300], &mut r), random(&[1300], &mut r));
    let mut args = vec![ArgValue::Tensor(x.clone()), ArgValue::Tensor(bias.clone())];
    run(&kernels::add_bias(1300), &mut args);
    // x · Iᵀ + bias on the CPU backend: the bias add of its matmul.
    let identity: Vec<f32> = (0..1300 * 1300).map(|i| if i / 1300 == i % 1300 { 1.0 } else { 0.0 }).collect();
    let identity = CpuTensor::new(1300, 1300, identity).unwrap();
    let expected = CpuBackend.matmul(&cpu(&x, 3), &identity, Some(&cpu(&bias, 1))).unwrap();
    check("add_bias", &tensor(&args, 0).data, &expected.data);
}

#[test]
fn copy_moves_every_element_of_long_rows() {
    let mut r = rng(5);
    let src = random(&[2, 3, 2500], &mut r);
    let mut args = vec![ArgValue::Tensor(src.clone()), ArgValue::Tensor(poisoned(DType::BF16, &[2, 3, 2500]))];
    run(&kernels::copy(2500), &mut args);
    assert_eq!(tensor(&args, 1).data, src.data);
}

#[test]
fn rmsnorm_matches_cpu() {
    let mut r = rng(6);
    let (x, w) = (random(&[4, 96], &mut r), random(&[96], &mut r));
    let mut args = vec![
        ArgValue::Tensor(x.clone()),
        ArgValue::Tensor(w.clone()),
        ArgValue::Tensor(poisoned(DType::BF16, &[4, 96])),
        ArgValue::F32(1e-6),
    ];
    run(&kernels::rmsnorm(96), &mut args);
    let expected = CpuBackend.rmsnorm(&cpu(&x, 4), &cpu(&w, 1), 1e-6).unwrap();
    check("rmsnorm", &tensor(&args, 2).data, &expected.data);
}

/// The fused residual add + RMSNorm against the CPU backend's, on rows one tile wide (96) and rows wider
/// than a tile (1300, two passes), over a span of rows in the middle of the stream.
fn check_add_rmsnorm(width: usize, seed: u64) {
    let mut r = rng(seed);
    let (rows, span) = (6, 2..5);
    let (x, y, w) = (random(&[rows, width], &mut r), random(&[rows, width], &mut r), random(&[width], &mut r));
    let n = span.len();
    let view = |t: &HostTensor| HostTensor {
        shape: vec![n, width],
        data: t.data[span.start * width..span.end * width].to_vec(),
        ..t.clone()
    };
    let mut args = vec![
        ArgValue::Tensor(view(&x)),
        ArgValue::Tensor(view(&y)),
        ArgValue::Tensor(w.clone()),
        ArgValue::Tensor(poisoned(DType::BF16, &[n, width])),
        ArgValue::F32(1e-6),
    ];
    run(&kernels::add_rmsnorm(width), &mut args);
    let mut expected_x = cpu(&x, rows);
    let expected =
        CpuBackend.add_rmsnorm_rows(&mut expected_x, span.clone(), &cpu(&y, rows), &cpu(&w, 1), 1e-6).unwrap();
    check("add_rmsnorm o", &tensor(&args, 3).data, &expected.data);
    check("add_rmsnorm x", &tensor(&args, 0).data, &expected_x.data[span.start * width..span.end * width]);
}

#[test]
fn add_rmsnorm_matches_cpu_on_one_tile_rows() {
    check_add_rmsnorm(96, 11);
}

#[test]
fn add_rmsnorm_matches_cpu_on_rows_wider_than_a_tile() {
    check_add_rmsnorm(1300, 12);
}

/// RoPE with Llama-3 scaling at positions `start ..`, head_dim `d` (a half that is not a power of two
/// exercises the masked tile).
fn check_rope(d: usize, start: usize, seed: u64) {
    let mut r = rng(seed);
    let (rows, heads, half) = (5, 3, d / 2);
    let scaling =
        RopeScaling::Llama3 { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_positions: 64.0 };
    let rope = Rope::new(d, 500_000.0, scaling);
    let x = random(&[rows, heads * d], &mut r);
    let positions = start + rows;
    let (cos, sin) = rope.tables_le_bytes(positions);
    let table = |bytes: Vec<u8>| {
        let values = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64).collect();
        HostTensor::from_f64(DType::F32, &[positions, half], values)
    };
    let mut args = vec![
        ArgValue::Tensor(HostTensor { shape: vec![rows, heads, 2, half], ..x.clone() }),
        ArgValue::Tensor(table(cos)),
        ArgValue::Tensor(table(sin)),
        ArgValue::I32(start as i32),
    ];
    run(&kernels::rope(d), &mut args);
    let mut expected = cpu(&x, rows);
    CpuBackend.rope(&mut expected, &rope, start).unwrap();
    check(&format!("rope d {d} start {start}"), &tensor(&args, 0).data, &expected.data);
}

#[test]
fn rope_matches_cpu_with_llama3_scaling() {
    check_rope(64, 0, 7);
    check_rope(16, 300, 8);
}

#[test]
fn rope_with_a_half_that_is_not_a_power_of_two_masks_its_tile() {
    check_rope(80, 11, 9);
}

struct DecodeCase {
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    keys: usize,
    rows: usize,
    window: Option<usize>,
    chunk: usize,
}

/// Both passes of the split-KV kernels on the interpreter against `CpuBackend::attention`.
fn check_decode(c: &DecodeCase, seed: u64) {
    let mut r = rng(seed);
    let (h, hkv, d) = (c.heads, c.kv_heads, c.head_dim);
    let group = h / hkv;
    let (k, v) = (random(&[c.keys, hkv * d], &mut r), random(&[c.keys, hkv * d], &mut r));
    let q = random(&[c.rows, h * d], &mut r);
    // The GPU cache layout [HKV, L, D] from the CPU layout [L, HKV * D].
    let head_major = |t: &HostTensor| {
        let data = (0..hkv).flat_map(|hk| (0..c.keys).flat_map(move |j| (0..d).map(move |x| (hk, j, x))));
        let values = data.map(|(hk, j, x)| t.data[j * hkv * d + hk * d + x]).collect();
        HostTensor::from_f64(DType::BF16, &[hkv, c.keys, d], values)
    };
    let chunks = c.keys.div_ceil(c.chunk);
    let start = c.keys - c.rows;
    let mut partial = vec![
        ArgValue::Tensor(HostTensor { shape: vec![c.rows, hkv, group, d], ..q.clone() }),
        ArgValue::Tensor(head_major(&k)),
        ArgValue::Tensor(head_major(&v)),
        ArgValue::Tensor(poisoned(DType::F32, &[c.rows, hkv, chunks, group, d])),
        ArgValue::Tensor(poisoned(DType::F32, &[c.rows, hkv, chunks, group])),
        ArgValue::F32(1.0 / (d as f32).sqrt()),
        ArgValue::I32(start as i32),
        ArgValue::I32(c.window.unwrap_or(0) as i32),
        ArgValue::I32(c.chunk as i32),
    ];
    run(&kernels::decode_partial(group, d), &mut partial);
    let mut combine =
        vec![partial[3].clone(), partial[4].clone(), ArgValue::Tensor(poisoned(DType::BF16, &[c.rows, h, d]))];
    run(&kernels::decode_combine(d), &mut combine);

    let shape = KvShape { layers: 1, kv_heads: hkv, head_dim: d, capacity: c.keys };
    let mut cache = CpuBackend.new_kv_cache(shape).unwrap();
    CpuBackend.append_kv(&mut cache, 0, &cpu(&k, c.keys), &cpu(&v, c.keys)).unwrap();
    let call = AttentionCall {
        layer: 0,
        start,
        heads: h,
        kv_heads: hkv,
        head_dim: d,
        scale: 1.0 / (d as f32).sqrt(),
        window: c.window,
        patterns: None,
    };
    let expected = CpuBackend.attention(&cpu(&q, c.rows), &cache, &call).unwrap();
    let what =
        format!("decode h {h} hkv {hkv} keys {} rows {} window {:?} chunk {}", c.keys, c.rows, c.window, c.chunk);
    check(&what, &tensor(&combine, 2).data, &expected.data);
}

#[test]
fn decode_over_several_chunks_with_grouped_heads_matches_cpu() {
    // 70 keys in chunks of 16: five chunks, the last ragged; 4 query heads per kv head.
    check_decode(&DecodeCase { heads: 8, kv_heads: 2, head_dim: 16, keys: 70, rows: 1, window: None, chunk: 16 }, 10);
}

#[test]
fn decode_in_one_chunk_matches_cpu() {
    check_decode(&DecodeCase { heads: 2, kv_heads: 2, head_dim: 32, keys: 33, rows: 1, window: None, chunk: 256 }, 11);
}

#[test]
fn decode_with_a_window_skips_empty_chunks() {
    // The window keeps keys 51..=70: chunks 0 to 2 see none and must merge as nothing.
    check_decode(
        &DecodeCase { heads: 4, kv_heads: 1, head_dim: 16, keys: 71, rows: 1, window: Some(20), chunk: 16 },
        12,
    );
}

#[test]
fn rows_after_cached_tokens_attend_causally() {
    // A pre-fill chunk of 6 rows after 20 cached tokens, and the same under a window.
    let case = DecodeCase { heads: 4, kv_heads: 2, head_dim: 16, keys: 26, rows: 6, window: None, chunk: 8 };
    check_decode(&case, 13);
    check_decode(&DecodeCase { window: Some(5), ..case }, 14);
}

/// Every specialization the backend launches for a Llama-3-8B-like model (and a 64-wide head), through ptxas.
#[test]
fn every_model_kernel_assembles_without_spills() {
    if !ptxas::available_for_tests("the model kernels") {
        return;
    }
    let specs = [
        ("embed", kernels::embed(4096)),
        ("swiglu", kernels::swiglu()),
        ("add", kernels::add()),
        ("add_bias", kernels::add_bias(4096)),
        ("add_rmsnorm", kernels::add_rmsnorm(4096)),
        ("copy", kernels::copy(128)),
        ("rope", kernels::rope(128)),
        ("rmsnorm", kernels::rmsnorm(4096)),
        ("decode_partial d128 g4", kernels::decode_partial(4, 128)),
        ("decode_partial d64 g32", kernels::decode_partial(32, 64)),
        ("decode_combine", kernels::decode_combine(128)),
    ];
    for (name, spec) in specs {
        let ir = lower_source(spec.source, spec.kernel, &spec.consts).unwrap_or_else(|e| panic!("{name}: {e}"));
        for arch in Arch::ALL {
            let module = compile_ir(&ir, arch).unwrap_or_else(|e| panic!("{name} {arch}: {e}"));
            let report = ptxas::assemble(&module.ptx, arch).unwrap_or_else(|e| panic!("{name} {arch}: {e}"));
            assert_eq!(
                (report.spill_stores, report.spill_loads, report.stack_bytes),
                (0, 0, 0),
                "{name} {arch} spills:\n{}",
                report.raw
            );
        }
    }
}

/// The dense pre-fill, per target, in every variant the backend's launches can run: with
/// q, k, v and o aligned (cu_seqlens too; lse when the length is a multiple of 4), and
/// with none of them aligned (the tiles it then picks).
#[test]
fn prefill_attention_assembles_without_spills_in_the_variants_it_launches() {
    if !ptxas::available_for_tests("prefill_attention") {
        return;
    }
    let variants = [(true, false), (true, true), (false, false)];
    for (arch, (aligned, lse_aligned)) in Arch::ALL.into_iter().flat_map(|a| variants.map(|v| (a, v))) {
        let spec = kernels::prefill_attention(128, arch, aligned);
        let mut ir = lower_source(spec.source, spec.kernel, &spec.consts).unwrap_or_else(|e| panic!("{arch}: {e}"));
        for name in sparsefill_patterns::attention::ALIGNED_ON_CONTIGUOUS {
            assert!(ir.set_aligned(name, aligned), "no tensor `{name}`");
        }
        ir.set_aligned("lse", lse_aligned);
        let module = compile_ir(&ir, arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let report = ptxas::assemble(&module.ptx, arch).unwrap_or_else(|e| panic!("{arch}: {e}"));
        let spills = (report.spill_stores, report.spill_loads, report.stack_bytes);
        assert_eq!(spills, (0, 0, 0), "{arch} aligned {aligned} lse aligned {lse_aligned}:\n{}", report.raw);
    }
}
