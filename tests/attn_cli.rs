//! `sparsefill attn` as a user runs it: safetensors in, each pattern through the
//! interpreter, safetensors out, checked against the f64 reference on fresh random
//! inputs; `--recall`, `--config`, and every way to fail with a clear message.

use rand::{Rng, SeedableRng};
use safetensors::{Dtype, SafeTensors};
use sparsefill::compiler::interp::ArgValue;
use sparsefill::compiler::ir::DType;
use sparsefill::compiler::tensor::HostTensor;
use sparsefill::patterns::attention::{self, AttentionCase, AttentionShape, KeyMask, RowOutputs};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;

mod common;

use common::{stderr, stdout};

/// `sparsefill attn ARGS...`.
fn sparsefill(args: &[&str]) -> Output {
    common::sparsefill(["attn"].iter().chain(args))
}

/// A fresh path in this process's scratch directory.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sparsefill-attn-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir.join(name)
}

fn path_str(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// One tensor of an input file: name, dtype, shape, values.
struct Tensor {
    name: &'static str,
    dtype: DType,
    shape: Vec<usize>,
    data: Vec<f64>,
}

fn write_file(name: &str, tensors: &[Tensor]) -> PathBuf {
    let dtype = |d: DType| match d {
        DType::BF16 => Dtype::BF16,
        DType::F16 => Dtype::F16,
        DType::F32 => Dtype::F32,
        DType::I32 => Dtype::I32,
        DType::Bool => Dtype::BOOL,
    };
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| {
            let host = HostTensor::from_f64(t.dtype, &t.shape, t.data.clone());
            (t.name.to_string(), dtype(t.dtype), t.shape.clone(), host.to_bytes())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, d, s, b)| (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).expect("view")))
        .collect();
    let path = scratch(name);
    std::fs::write(&path, safetensors::serialize(views, None).expect("serialize")).expect("write input");
    path
}

/// Random q [B, H, S, D], k, v [B, HKV, S, D], uniform in [-2, 2], as `dtype`.
fn qkv(dims: [usize; 5], dtype: DType, seed: u64) -> Vec<Tensor> {
    let [b, h, hkv, s, d] = dims;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut random = |name, heads: usize| {
        // bf16-representable values, so that bf16, f16 and f32 files hold the same inputs.
        let data = (0..b * heads * s * d).map(|_| half::bf16::from_f64(rng.random_range(-2.0..2.0)).to_f64()).collect();
        Tensor { name, dtype, shape: vec![b, heads, s, d], data }
    };
    vec![random("q", h), random("k", hkv), random("v", hkv)]
}

const DIMS: [usize; 5] = [2, 4, 2, 24, 16];

/// `[B, N, S, D]` → `[B · S, N, D]`: the oracle's own packing.
fn packed(t: &Tensor) -> HostTensor {
    let [b, n, s, d] = [t.shape[0], t.shape[1], t.shape[2], t.shape[3]];
    let mut data = vec![0.0; t.data.len()];
    for bi in 0..b {
        for h in 0..n {
            for si in 0..s {
                for c in 0..d {
                    data[((bi * s + si) * n + h) * d + c] = t.data[((bi * n + h) * s + si) * d + c];
                }
            }
        }
    }
    HostTensor::from_f64(DType::BF16, &[b * s, n, d], data)
}

/// The f64 reference of every row under `mask`, in [`RowOutputs`]' packed row order.
fn reference(tensors: &[Tensor], mask: impl Fn(KeyMask) -> bool) -> RowOutputs {
    let [b, h, hkv, s, d] =
        [tensors[0].shape[0], tensors[0].shape[1], tensors[1].shape[1], tensors[0].shape[2], tensors[0].shape[3]];
    let shape = AttentionShape { seqlens: vec![s; b], heads: h, kv_heads: hkv, head_dim: d, causal: true };
    let args = tensors.iter().map(|t| ArgValue::Tensor(packed(t))).collect();
    let case = AttentionCase { shape, consts: Vec::new(), args };
    let rows: Vec<usize> = (0..b * s).collect();
    case.reference_masked(&rows, |at| at.is_causal_visible() && mask(at)).expect("reference")
}

/// An output file's tensors by name.
fn read_output(path: &std::path::Path) -> HashMap<String, HostTensor> {
    let bytes = std::fs::read(path).expect("output written");
    let file = SafeTensors::deserialize(&bytes).expect("output is safetensors");
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let dtype = match view.dtype() {
                Dtype::BF16 => DType::BF16,
                Dtype::F32 => DType::F32,
                Dtype::I32 => DType::I32,
                other => panic!("{name} has dtype {other:?}"),
            };
            (name, HostTensor::from_bytes(dtype, view.shape(), view.data()).expect("tensor bytes"))
        })
        .collect()
}

/// o [B, H, S, D] and lse [B, H, S] in [`RowOutputs`]' packed row order.
fn rows_of(out: &HashMap<String, HostTensor>) -> RowOutputs {
    let (o, lse) = (&out["o"], &out["lse"]);
    let [b, h, s, d] = [o.shape[0], o.shape[1], o.shape[2], o.shape[3]];
    let mut rows = RowOutputs { o: Vec::new(), lse: Vec::new() };
    for bi in 0..b {
        for si in 0..s {
            for head in 0..h {
                rows.o.extend_from_slice(&o.data[((bi * h + head) * s + si) * d..][..d]);
                rows.lse.push(lse.data[(bi * h + head) * s + si]);
            }
        }
    }
    rows
}

/// Runs attn on `tensors` with `extra` arguments; returns the output's tensors.
fn run_ok(name: &str, tensors: &[Tensor], extra: &[&str]) -> (HashMap<String, HostTensor>, String) {
    let input = write_file(&format!("{name}-in.safetensors"), tensors);
    let output = scratch(&format!("{name}-out.safetensors"));
    let mut args = vec!["--input".to_string(), path_str(&input), "--output".to_string(), path_str(&output)];
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = sparsefill(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{extra:?} failed:\n{}", stderr(&o));
    (read_output(&output), stdout(&o))
}

fn check_err(name: &str, tensors: &[Tensor], extra: &[&str], expect_in_stderr: &str) {
    let input = write_file(&format!("{name}-in.safetensors"), tensors);
    let output = path_str(&scratch(&format!("{name}-out.safetensors")));
    let mut args =
        vec!["--input", &path_str(&input), "--output", &output].into_iter().map(String::from).collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = sparsefill(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!o.status.success(), "{extra:?} unexpectedly succeeded");
    assert!(stderr(&o).contains(expect_in_stderr), "{extra:?}: `{expect_in_stderr}` not in:\n{}", stderr(&o));
}

fn check_matches(got: &RowOutputs, expected: &RowOutputs) {
    attention::check_outputs(got, expected).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn dense_matches_the_f64_reference() {
    let tensors = qkv(DIMS, DType::BF16, 1);
    let (out, _) = run_ok("dense", &tensors, &["--pattern", "dense"]);
    check_matches(&rows_of(&out), &reference(&tensors, |_| true));
}

#[test]
fn outputs_have_the_batch_layout() {
    let (out, _) = run_ok("layout", &qkv(DIMS, DType::BF16, 2), &["--pattern", "dense"]);
    let got = [(&out["o"].shape, out["o"].dtype), (&out["lse"].shape, out["lse"].dtype)];
    assert_eq!(got, [(&vec![2, 4, 24, 16], DType::BF16), (&vec![2, 4, 24], DType::F32)]);
}

#[test]
fn dense_writes_no_index_tensors() {
    let (out, _) = run_ok("no-index", &qkv(DIMS, DType::BF16, 2), &["--pattern", "dense"]);
    let mut names: Vec<&String> = out.keys().collect();
    names.sort();
    assert_eq!(names, ["lse", "o"]);
}

/// f32 and f16 files hold the same (bf16-representable) values: the outputs are the same.
#[test]
fn f32_and_f16_inputs_give_the_bf16_result() {
    let (bf16, _) = run_ok("as-bf16", &qkv(DIMS, DType::BF16, 3), &["--pattern", "dense"]);
    let (f32, _) = run_ok("as-f32", &qkv(DIMS, DType::F32, 3), &["--pattern", "dense"]);
    let (f16, _) = run_ok("as-f16", &qkv(DIMS, DType::F16, 3), &["--pattern", "dense"]);
    assert!(bf16["o"] == f32["o"] && bf16["o"] == f16["o"], "outputs differ");
}

#[test]
fn grouped_query_heads_with_one_kv_head_match_the_reference() {
    let tensors = qkv([1, 4, 1, 40, 32], DType::BF16, 4);
    let (out, _) = run_ok("gqa", &tensors, &["--pattern", "dense"]);
    check_matches(&rows_of(&out), &reference(&tensors, |_| true));
}

#[test]
fn a_shape_matches_the_reference_with_its_mask() {
    let tensors = qkv(DIMS, DType::BF16, 5);
    let (out, _) = run_ok("a-shape", &tensors, &["--pattern", "a_shape:n_init=2,n_local=5"]);
    check_matches(&rows_of(&out), &reference(&tensors, |at| at.key < 2 || at.query - at.key < 5));
}

#[test]
fn tri_shape_matches_the_reference_with_its_mask() {
    let tensors = qkv(DIMS, DType::BF16, 6);
    let (out, _) = run_ok("tri-shape", &tensors, &["--pattern", "tri_shape:n_init=1,n_local=3,n_last=4"]);
    let mask = |at: KeyMask| at.key < 1 || at.query - at.key < 3 || at.query + 4 >= at.len;
    check_matches(&rows_of(&out), &reference(&tensors, mask));
}

#[test]
fn block_sparse_writes_its_index() {
    let (out, _) =
        run_ok("block-sparse", &qkv([1, 2, 1, 130, 16], DType::BF16, 7), &["--pattern", "block_sparse:top_k=2"]);
    assert!(out.contains_key("block_count") && out.contains_key("block_index"), "{:?}", out.keys());
}

/// Block-sparse keeps whole 64-key blocks: its o equals the reference over the blocks
/// its own index names.
#[test]
fn block_sparse_matches_the_reference_over_its_index() {
    let tensors = qkv([1, 2, 1, 130, 16], DType::BF16, 8);
    let (out, _) = run_ok("block-sparse-ref", &tensors, &["--pattern", "block_sparse:top_k=2"]);
    let (count, index) = (&out["block_count"], &out["block_index"]);
    let strides = (count.strides(), index.strides());
    let mask = |at: KeyMask| {
        let (qb, kb) = (at.query / 64, at.key / 64);
        let n = count.data[at.seq * strides.0[0] + at.head * strides.0[1] + qb] as usize;
        let base = at.seq * strides.1[0] + at.head * strides.1[1] + qb * strides.1[2];
        (0..n).any(|i| index.data[base + i] as usize == kb)
    };
    check_matches(&rows_of(&out), &reference(&tensors, mask));
}

/// The cells of the printed table's body rows (header and rule skipped).
fn table_rows(printed: &str) -> Vec<Vec<String>> {
    printed
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| head"))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect())
        .collect()
}

/// Vertical-slash's o equals the reference over the tiles and columns its own index
/// names (read back from the output file; the mask is this test's own).
#[test]
fn vertical_slash_matches_the_reference_over_its_index() {
    let tensors = qkv([2, 2, 1, 150, 16], DType::BF16, 15);
    let (out, _) = run_ok("vertical-slash", &tensors, &["--pattern", "vertical_slash:vertical=40,slash=110"]);
    let entries = |count: &str, list: &str, at: KeyMask| -> Vec<usize> {
        let (count, list) = (&out[count], &out[list]);
        let qb = at.query / 64;
        let n = count.data[(at.seq * count.shape[1] + at.head) * count.shape[2] + qb] as usize;
        let base = ((at.seq * list.shape[1] + at.head) * list.shape[2] + qb) * list.shape[3];
        list.data[base..][..n].iter().map(|&x| x as usize).collect()
    };
    let mask = |at: KeyMask| {
        entries("block_count", "block_offset", at).iter().any(|&t| (t..t + 64).contains(&at.key))
            || entries("column_count", "column_index", at).contains(&at.key)
    };
    check_matches(&rows_of(&out), &reference(&tensors, mask));
}

#[test]
fn vertical_slash_writes_its_four_index_tensors() {
    let (out, _) = run_ok(
        "vertical-slash-index",
        &qkv([1, 2, 1, 80, 16], DType::BF16, 16),
        &["--pattern", "vertical_slash:vertical=4,slash=2"],
    );
    let mut names: Vec<&String> = out.keys().collect();
    names.sort();
    assert_eq!(names, ["block_count", "block_offset", "column_count", "column_index", "lse", "o"]);
}

#[test]
fn recall_of_dense_is_one_for_every_head() {
    let (_, printed) = run_ok("recall-dense", &qkv(DIMS, DType::BF16, 9), &["--pattern", "dense", "--recall"]);
    let rows = table_rows(&printed);
    let heads: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(heads, ["0", "1", "2", "3", "all"], "{printed}");
    assert!(rows.iter().all(|r| r[1] == "1.0000" && r[2] == "1.0000"), "{printed}");
}

/// A reader gone before the recall table is printed (`| head`) loses nothing: attn still
/// writes its output file and exits 0, with no panic.
#[test]
fn a_closed_output_pipe_still_writes_the_output() {
    let input = write_file("closed-pipe-in.safetensors", &qkv(DIMS, DType::BF16, 11));
    let output = scratch("closed-pipe-out.safetensors");
    let (input_arg, output_arg) = (path_str(&input), path_str(&output));
    let args = ["attn", "--input", &input_arg, "--output", &output_arg, "--pattern", "dense", "--recall"];
    let o = common::sparsefill_writing_to(args, common::Reader::Closed);
    assert!(o.status.success() && !stderr(&o).contains("panicked"), "{}", stderr(&o));
    let expected = reference(&qkv(DIMS, DType::BF16, 11), |_| true);
    check_matches(&rows_of(&read_output(&output)), &expected);
}

/// The recall printed for a narrow window is the share of mass the window keeps: below 1.
#[test]
fn recall_of_a_narrow_window_is_below_one() {
    let (_, printed) =
        run_ok("recall-window", &qkv(DIMS, DType::BF16, 10), &["--pattern", "a_shape:n_init=1,n_local=2", "--recall"]);
    let rows = table_rows(&printed);
    let mean: f64 = rows.last().and_then(|r| r[1].parse().ok()).unwrap_or_else(|| panic!("no total:\n{printed}"));
    assert!(mean > 0.0 && mean < 0.9, "{printed}");
}

#[test]
fn the_output_records_the_pattern() {
    let input = write_file("meta-in.safetensors", &qkv(DIMS, DType::BF16, 11));
    let output = scratch("meta-out.safetensors");
    let o = sparsefill(&[
        "--input",
        &path_str(&input),
        "--output",
        &path_str(&output),
        "--pattern",
        "a_shape:n_init=1,n_local=8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bytes = std::fs::read(&output).expect("output");
    let (_, metadata) = SafeTensors::read_metadata(&bytes).expect("header");
    assert_eq!(
        metadata.metadata().as_ref().and_then(|m| m.get("pattern")).map(String::as_str),
        Some("a_shape:n_init=1,n_local=8")
    );
}

fn write_config(name: &str, text: &str) -> String {
    let path = scratch(name);
    std::fs::write(&path, text).expect("config written");
    path_str(&path)
}

/// Heads 0 and 2 run A-shape, heads 1 and 3 dense: each head matches its own pattern's
/// reference, across the GQA groups (heads 0, 1 share kv head 0).
#[test]
fn a_per_head_config_runs_each_head_with_its_pattern() {
    let a_shape = r#"{"pattern": "a_shape", "n_init": 1, "n_local": 4}"#;
    let config = format!(
        r#"{{"format": "sparsefill-patterns/1", "layers": [[{a_shape}, {{"pattern": "dense"}}, {a_shape}, {{"pattern": "dense"}}]]}}"#
    );
    let config = write_config("per-head.json", &config);
    let tensors = qkv(DIMS, DType::BF16, 12);
    let (out, _) = run_ok("per-head", &tensors, &["--config", &config]);
    let mask = |at: KeyMask| at.head % 2 == 1 || at.key < 1 || at.query - at.key < 4;
    check_matches(&rows_of(&out), &reference(&tensors, mask));
}

#[test]
fn a_per_head_config_lists_each_groups_heads() {
    let config = write_config(
        "groups.json",
        r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}, {"pattern": "a_shape", "n_init": 1, "n_local": 4}, {"pattern": "dense"}, {"pattern": "dense"}]]}"#,
    );
    let (out, _) = run_ok("groups", &qkv(DIMS, DType::BF16, 13), &["--config", &config]);
    assert_eq!((out["group0.heads"].data.clone(), out["group1.heads"].data.clone()), (vec![0.0, 2.0, 3.0], vec![1.0]));
}

#[test]
fn a_minference_config_is_read_as_it_is() {
    let layer = r#"{"0": ["stream_llm", 1, 4, 0.9], "1": ["stream_llm", 1, 4, 0.9], "2": ["stream_llm", 1, 4, 0.9], "3": ["stream_llm", 1, 4, 0.9]}"#;
    let config = write_config("minference.json", &format!("[{layer}, {layer}]"));
    let tensors = qkv(DIMS, DType::BF16, 14);
    let (out, _) = run_ok("minference", &tensors, &["--config", &config, "--layer", "1"]);
    check_matches(&rows_of(&out), &reference(&tensors, |at| at.key < 1 || at.query - at.key < 4));
}

#[test]
fn a_config_with_another_head_count_is_rejected() {
    let config = write_config(
        "two-heads.json",
        r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}, {"pattern": "dense"}]]}"#,
    );
    check_err(
        "config-heads",
        &qkv(DIMS, DType::BF16, 1),
        &["--config", &config],
        "configures 2 heads per layer but q has 4",
    );
}

#[test]
fn a_layer_past_the_config_is_rejected() {
    let config =
        write_config("one-layer.json", r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}]]}"#);
    check_err(
        "config-layer",
        &qkv(DIMS, DType::BF16, 1),
        &["--config", &config, "--layer", "3"],
        "--layer 3 is out of range",
    );
}

#[test]
fn a_malformed_config_is_rejected_with_its_path() {
    let config = write_config("broken.json", "{");
    check_err("config-broken", &qkv(DIMS, DType::BF16, 1), &["--config", &config], "broken.json");
}

#[test]
fn a_pattern_and_a_config_together_are_rejected() {
    let config =
        write_config("both.json", r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}]]}"#);
    check_err("both", &qkv(DIMS, DType::BF16, 1), &["--pattern", "dense", "--config", &config], "cannot be used with");
}

#[test]
fn no_pattern_is_rejected() {
    check_err("no-pattern", &qkv(DIMS, DType::BF16, 1), &[], "--pattern");
}

#[test]
fn a_missing_input_file_is_named() {
    let o =
        sparsefill(&["--input", "no/such/input.safetensors", "--output", "/tmp/x.safetensors", "--pattern", "dense"]);
    assert!(!o.status.success() && stderr(&o).contains("cannot read `no/such/input.safetensors`"), "{}", stderr(&o));
}

#[test]
fn a_file_that_is_not_safetensors_is_rejected() {
    let path = scratch("garbage.safetensors");
    std::fs::write(&path, b"not a safetensors file").expect("write");
    let o = sparsefill(&["--input", &path_str(&path), "--output", "/tmp/x.safetensors", "--pattern", "dense"]);
    assert!(stderr(&o).contains("is not a safetensors file"), "{}", stderr(&o));
}

#[test]
fn a_missing_q_is_named_with_what_the_file_holds() {
    let tensors: Vec<Tensor> = qkv(DIMS, DType::BF16, 1).into_iter().skip(1).collect();
    check_err("no-q", &tensors, &["--pattern", "dense"], "has no tensor `q` (it holds: k, v)");
}

#[test]
fn a_missing_v_is_named() {
    let tensors: Vec<Tensor> = qkv(DIMS, DType::BF16, 1).into_iter().take(2).collect();
    check_err("no-v", &tensors, &["--pattern", "dense"], "has no tensor `v`");
}

#[test]
fn a_rank_3_q_is_rejected() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    tensors[0].shape = vec![8, 24, 16];
    check_err(
        "rank",
        &tensors,
        &["--pattern", "dense"],
        "tensor `q` must have rank 4 ([B, H, S, D]); got shape [8, 24, 16]",
    );
}

#[test]
fn k_with_another_head_dim_is_rejected() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    tensors[1].shape = vec![2, 1, 24, 32];
    check_err("head-dim", &tensors, &["--pattern", "dense"], "tensor `k` has head dim 32 but q has 16");
}

#[test]
fn k_with_another_sequence_length_is_rejected() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    tensors[1].shape = vec![2, 2, 48, 8];
    check_err("seq-len", &tensors, &["--pattern", "dense"], "tensor `k` has sequence length 48 but q has 24");
}

#[test]
fn v_with_another_shape_than_k_is_rejected() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    tensors[2].shape = vec![2, 1, 48, 16];
    check_err(
        "v-shape",
        &tensors,
        &["--pattern", "dense"],
        "tensor `v` must have the shape of `k`, [2, 2, 24, 16]; got [2, 1, 48, 16]",
    );
}

#[test]
fn heads_that_kv_heads_do_not_divide_are_rejected() {
    let tensors = qkv([1, 6, 4, 8, 16], DType::BF16, 1);
    check_err("gqa-bad", &tensors, &["--pattern", "dense"], "got heads 6, kv_heads 4");
}

#[test]
fn a_q_with_no_heads_is_rejected() {
    check_err("no-heads", &qkv([1, 0, 1, 8, 16], DType::BF16, 1), &["--pattern", "dense"], "tensor `q` has no heads");
}

#[test]
fn an_unsupported_head_dim_is_rejected() {
    let tensors = qkv([1, 2, 1, 8, 24], DType::BF16, 1);
    check_err("d-24", &tensors, &["--pattern", "dense"], "head_dim must be a power of two from 16 to 128");
}

#[test]
fn an_integer_q_is_rejected() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    tensors[0].dtype = DType::I32;
    check_err("int-q", &tensors, &["--pattern", "dense"], "tensor `q` is i32; supported: bf16, f16, f32");
}

#[test]
fn an_unknown_pattern_lists_the_known_ones() {
    check_err(
        "unknown",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "diagonal:k=3"],
        "unknown pattern `diagonal`; known: dense, a_shape, tri_shape, vertical_slash, block_sparse, strided",
    );
}

#[test]
fn a_non_numeric_pattern_arg_is_rejected() {
    check_err(
        "args-nan",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "a_shape:n_init=x,n_local=4"],
        "n_init must be a whole number",
    );
}

#[test]
fn a_missing_pattern_arg_is_named() {
    check_err(
        "args-missing",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "a_shape:n_init=4"],
        "missing field `n_local`",
    );
}

#[test]
fn an_unknown_pattern_arg_is_named() {
    check_err(
        "args-unknown",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "block_sparse:top_k=2,depth=3"],
        "unknown field `depth`",
    );
}

#[test]
fn a_pattern_arg_without_a_value_is_rejected() {
    check_err("args-kv", &qkv(DIMS, DType::BF16, 1), &["--pattern", "block_sparse:top_k"], "`top_k` is not KEY=VALUE");
}

#[test]
fn a_pattern_arg_given_twice_is_rejected() {
    check_err(
        "args-twice",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "block_sparse:top_k=2,top_k=3"],
        "`top_k` is given twice",
    );
}

#[test]
fn pattern_args_the_pattern_rejects_are_reported() {
    check_err(
        "args-zero",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "a_shape:n_init=1,n_local=0"],
        "n_local must be at least 1",
    );
}

#[test]
fn an_unwritable_output_is_named() {
    check_err_output(
        "no/such/dir/out.safetensors",
        "--output `no/such/dir/out.safetensors`: its directory `no/such/dir` does not exist",
    );
}

#[test]
fn the_input_is_never_the_output() {
    let input = write_file("same-in.safetensors", &qkv(DIMS, DType::BF16, 1));
    let before = std::fs::read(&input).unwrap();
    let o = sparsefill(&["--input", &path_str(&input), "--output", &path_str(&input), "--pattern", "dense"]);
    assert!(!o.status.success() && stderr(&o).contains("writing it would replace what is read"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input changed");
}

#[test]
fn the_config_is_never_the_output() {
    let config =
        write_config("kept.json", r#"{"format": "sparsefill-patterns/1", "layers": [[{"pattern": "dense"}]]}"#);
    let input = write_file("config-out-in.safetensors", &qkv(DIMS, DType::BF16, 1));
    let o = sparsefill(&["--input", &path_str(&input), "--output", &config, "--config", &config]);
    assert!(!o.status.success() && stderr(&o).contains("is the input"), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&config).unwrap().contains("sparsefill-patterns/1"), "the config was replaced");
}

#[test]
fn a_layer_without_a_config_is_refused() {
    check_err("layer", &qkv(DIMS, DType::BF16, 1), &["--pattern", "dense", "--layer", "5"], "cannot be used with");
}

/// Scores past f32's range overflow to NaN: the output is written, with a warning saying so, and --recall
/// counts the non-finite elements beside the error of the finite ones.
#[test]
fn nan_in_the_output_is_reported() {
    let mut tensors = qkv(DIMS, DType::BF16, 1);
    for t in &mut tensors {
        t.data.iter_mut().for_each(|x| *x = 1e30);
    }
    let input = write_file("nan-in.safetensors", &tensors);
    let output = scratch("nan-out.safetensors");
    let o =
        sparsefill(&["--input", &path_str(&input), "--output", &path_str(&output), "--pattern", "dense", "--recall"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("warning: the output holds NaN"), "{}", stderr(&o));
    let out = stdout(&o);
    let all = out.lines().find(|l| l.starts_with("| all")).unwrap_or_else(|| panic!("no `all` row:\n{out}"));
    let non_finite = all.split('|').map(str::trim).rfind(|c| !c.is_empty()).and_then(|c| c.parse::<usize>().ok());
    assert!(non_finite.is_some_and(|n| n > 0), "no non-finite count in `{all}`");
}

fn check_err_output(output: &str, expect: &str) {
    let input = write_file("unwritable-in.safetensors", &qkv(DIMS, DType::BF16, 1));
    let o = sparsefill(&["--input", &path_str(&input), "--output", output, "--pattern", "dense"]);
    assert!(!o.status.success() && stderr(&o).contains(expect), "{}", stderr(&o));
}

#[cfg(not(feature = "gpu"))]
#[test]
fn cuda_without_the_gpu_feature_is_a_clear_error() {
    check_err(
        "cuda",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "dense", "--device", "cuda"],
        "needs a build with the `gpu` feature",
    );
}

/// vertical_slash has a GPU path like the other patterns: without the feature it fails
/// the same way, not with an error of its own.
#[cfg(not(feature = "gpu"))]
#[test]
fn vertical_slash_on_cuda_without_the_gpu_feature_is_the_same_clear_error() {
    check_err(
        "vs-cuda",
        &qkv(DIMS, DType::BF16, 1),
        &["--pattern", "vertical_slash:vertical=8,slash=8", "--device", "cuda"],
        "needs a build with the `gpu` feature",
    );
}

/// The strided pattern (ours, not MInference's) through the config-format syntax: every
/// second 64-key block plus the 3 nearest keys.
#[test]
fn strided_matches_the_reference_with_its_mask() {
    let tensors = qkv([1, 2, 1, 130, 16], DType::BF16, 9);
    let (out, _) = run_ok("strided", &tensors, &["--pattern", "strided:stride=2,n_local=3"]);
    let mask = |at: KeyMask| at.key <= at.query && ((at.key / 64).is_multiple_of(2) || at.query - at.key < 3);
    check_matches(&rows_of(&out), &reference(&tensors, mask));
}
