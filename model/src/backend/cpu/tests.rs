use super::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn random(rows: usize, cols: usize, seed: u64) -> CpuTensor {
    let mut rng = StdRng::seed_from_u64(seed);
    CpuTensor::new(rows, cols, (0..rows * cols).map(|_| rng.random_range(-1.0..1.0)).collect()).unwrap()
}

fn close(got: &[f32], expected: &[f64], tolerance: f64) -> bool {
    got.len() == expected.len()
        && got.iter().zip(expected).all(|(g, e)| (*g as f64 - e).abs() <= tolerance * (1.0 + e.abs()))
}

fn call(heads: usize, kv_heads: usize, head_dim: usize, start: usize, window: Option<usize>) -> AttentionCall<'static> {
    AttentionCall { layer: 0, start, heads, kv_heads, head_dim, scale: 0.5, window, patterns: None }
}

fn cache_with(k: &CpuTensor, v: &CpuTensor, kv_heads: usize, head_dim: usize) -> CpuKvCache {
    let shape = KvShape { layers: 1, kv_heads, head_dim, capacity: k.rows };
    let mut cache = CpuBackend.new_kv_cache(shape).unwrap();
    CpuBackend.append_kv(&mut cache, 0, k, v).unwrap();
    cache
}

#[test]
fn matmul_with_bias_matches_f64() {
    let (x, w, bias) = (random(3, 37, 1), random(5, 37, 2), random(1, 5, 3));
    let got = CpuBackend.matmul(&x, &w, Some(&bias)).unwrap();
    let expected: Vec<f64> = (0..3)
        .flat_map(|r| {
            let (x, w, bias) = (&x, &w, &bias);
            (0..5).map(move |o| {
                (0..37).map(|i| x.data[r * 37 + i] as f64 * w.data[o * 37 + i] as f64).sum::<f64>()
                    + bias.data[o] as f64
            })
        })
        .collect();
    assert!(close(&got.data, &expected, 1e-6));
}

#[test]
fn matmul_rejects_mismatched_inner_sizes() {
    let error = CpuBackend.matmul(&random(2, 8, 1), &random(4, 6, 2), None).unwrap_err();
    assert_eq!(error.to_string(), "matmul: the weight's in_features must be 8; got 6");
}

#[test]
fn rmsnorm_matches_f64() {
    let (x, w) = (random(2, 16, 4), random(1, 16, 5));
    let got = CpuBackend.rmsnorm(&x, &w, 1e-5).unwrap();
    let expected: Vec<f64> = x
        .data
        .chunks(16)
        .flat_map(|row| {
            let rms = (row.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / 16.0 + 1e-5).sqrt();
            row.iter().zip(&w.data).map(move |(v, w)| *v as f64 / rms * *w as f64).collect::<Vec<_>>()
        })
        .collect();
    assert!(close(&got.data, &expected, 1e-6));
}

#[test]
fn swiglu_matches_f64() {
    let (gate, up) = (random(2, 9, 6), random(2, 9, 7));
    let got = CpuBackend.swiglu(&gate, &up).unwrap();
    let expected: Vec<f64> =
        gate.data.iter().zip(&up.data).map(|(g, u)| *g as f64 / (1.0 + (-*g as f64).exp()) * *u as f64).collect();
    assert!(close(&got.data, &expected, 1e-6));
}

#[test]
fn swiglu_rejects_different_shapes() {
    assert!(CpuBackend.swiglu(&random(2, 9, 6), &random(3, 9, 7)).is_err());
}

#[test]
fn embed_gathers_rows_in_token_order() {
    let table = random(6, 4, 8);
    let got = CpuBackend.embed(&table, &[5, 0, 5]).unwrap();
    let expected = [&table.data[20..24], &table.data[0..4], &table.data[20..24]].concat();
    assert_eq!(got.data, expected);
}

#[test]
fn embed_rejects_tokens_past_the_table() {
    let error = CpuBackend.embed(&random(6, 4, 8), &[2, 6]).unwrap_err();
    assert_eq!(error.to_string(), "embedding: token 6 is outside the table's 6 rows");
}

#[test]
fn upload_decodes_bf16() {
    let values = [1.5f32, -0.25, 3.0];
    let bytes: Vec<u8> = values.iter().flat_map(|v| bf16::from_f32(*v).to_le_bytes()).collect();
    let view = WeightView { name: "w", dtype: WeightDType::BF16, shape: &[3], bytes: &bytes };
    assert_eq!(CpuBackend.upload(&view).unwrap().data, values);
}

#[test]
fn upload_rejects_rank_three() {
    let view = WeightView { name: "w", dtype: WeightDType::F32, shape: &[1, 1, 1], bytes: &[0; 4] };
    assert_eq!(CpuBackend.upload(&view).unwrap_err().to_string(), "upload: a weight's rank must be 1 or 2; got 3");
}

#[test]
fn first_query_attends_only_to_itself() {
    // Causality: row 0 sees key 0 alone, so its output is value row 0 whatever the scores.
    let (q, k, v) = (random(3, 8, 9), random(3, 8, 10), random(3, 8, 11));
    let out = CpuBackend.attention(&q, &cache_with(&k, &v, 1, 8), &call(1, 1, 8, 0, None)).unwrap();
    assert!(close(&out.data[..8], &v.data[..8].iter().map(|x| *x as f64).collect::<Vec<_>>(), 1e-6));
}

#[test]
fn grouped_heads_read_their_shared_kv_head() {
    // A window of one leaves each query its own key: the output of query head h is the value of kv head h / 2.
    let (q, k, v) = (random(2, 16, 12), random(2, 8, 13), random(2, 8, 14));
    let out = CpuBackend.attention(&q, &cache_with(&k, &v, 2, 4), &call(4, 2, 4, 0, Some(1))).unwrap();
    let expected: Vec<f64> = (0..2)
        .flat_map(|r| (0..4).flat_map(move |h| (0..4).map(move |i| (r, h / 2 * 4 + i))))
        .map(|(r, c)| v.data[r * 8 + c] as f64)
        .collect();
    assert!(close(&out.data, &expected, 1e-6));
}

#[test]
fn decode_query_weights_values_by_softmax() {
    let (q, k, v) = (random(1, 4, 15), random(3, 4, 16), random(3, 4, 17));
    let out = CpuBackend.attention(&q, &cache_with(&k, &v, 1, 4), &call(1, 1, 4, 2, None)).unwrap();
    let scores: Vec<f64> =
        (0..3).map(|j| (0..4).map(|i| q.data[i] as f64 * k.data[j * 4 + i] as f64).sum::<f64>() * 0.5).collect();
    let total: f64 = scores.iter().map(|s| s.exp()).sum();
    let expected: Vec<f64> =
        (0..4).map(|i| (0..3).map(|j| scores[j].exp() / total * v.data[j * 4 + i] as f64).sum()).collect();
    assert!(close(&out.data, &expected, 1e-6));
}

#[test]
fn attention_needs_the_queries_keys_in_the_cache() {
    let (k, v) = (random(2, 4, 18), random(2, 4, 19));
    let error =
        CpuBackend.attention(&random(1, 4, 20), &cache_with(&k, &v, 1, 4), &call(1, 1, 4, 2, None)).unwrap_err();
    assert_eq!(error.to_string(), "attention: cached tokens must be at least 3; got 2");
}

#[test]
fn attention_rejects_a_layer_past_the_cache() {
    let (k, v) = (random(1, 4, 18), random(1, 4, 19));
    let bad = AttentionCall { layer: 3, ..call(1, 1, 4, 0, None) };
    let error = CpuBackend.attention(&random(1, 4, 20), &cache_with(&k, &v, 1, 4), &bad).unwrap_err();
    assert_eq!(error.to_string(), "attention: layer 3 is outside the cache's 1 layers");
}

#[test]
fn append_rejects_keys_of_the_wrong_width() {
    let mut cache = CpuBackend.new_kv_cache(KvShape { layers: 1, kv_heads: 2, head_dim: 4, capacity: 1 }).unwrap();
    let error = CpuBackend.append_kv(&mut cache, 0, &random(1, 4, 1), &random(1, 4, 2)).unwrap_err();
    assert_eq!(error.to_string(), "append_kv: the key width must be 8; got 4");
}

#[test]
fn add_rows_adds_at_an_offset() {
    let (mut x, y) = (random(3, 2, 21), random(1, 2, 22));
    let before = x.clone();
    CpuBackend.add_rows(&mut x, 2, &y).unwrap();
    assert_eq!(x.data, [&before.data[..4], &[before.data[4] + y.data[0], before.data[5] + y.data[1]][..]].concat());
}

#[test]
fn add_rows_rejects_rows_past_the_end() {
    let error = CpuBackend.add_rows(&mut random(3, 2, 21), 2, &random(2, 2, 22)).unwrap_err();
    assert_eq!(error.to_string(), "add_rows: the last row added must be below 3; got 3");
}

#[test]
fn slice_rows_rejects_a_range_past_the_end() {
    assert!(CpuBackend.slice_rows(&random(3, 2, 23), 1..4).is_err());
}

#[test]
fn rope_rejects_a_width_that_is_not_whole_heads() {
    let rope = Rope::new(4, 10_000.0, crate::rope::RopeScaling::None);
    let error = CpuBackend.rope(&mut random(1, 6, 24), &rope, 0).unwrap_err();
    assert_eq!(error.to_string(), "rope: the row width must be a multiple of 4; got 6");
}

#[test]
fn cache_counts_appended_tokens() {
    let cache = cache_with(&random(3, 4, 25), &random(3, 4, 26), 1, 4);
    assert_eq!((cache.tokens(0), cache.tokens(1)), (3, 0));
}

#[test]
fn add_rmsnorm_rows_adds_then_normalizes_only_those_rows() {
    let (x, y, w) = (random(4, 8, 31), random(4, 8, 32), random(1, 8, 33));
    let mut fused = x.clone();
    let got = CpuBackend.add_rmsnorm_rows(&mut fused, 1..3, &y, &w, 1e-5).unwrap();
    let mut separate = x.clone();
    CpuBackend.add_rows(&mut separate, 1, &CpuBackend.slice_rows(&y, 1..3).unwrap()).unwrap();
    let expected = CpuBackend.rmsnorm(&CpuBackend.slice_rows(&separate, 1..3).unwrap(), &w, 1e-5).unwrap();
    assert_eq!((fused.data, got.data), (separate.data, expected.data));
}

#[test]
fn add_rmsnorm_rows_rejects_an_addend_of_another_shape() {
    let error = CpuBackend.add_rmsnorm_rows(&mut random(4, 8, 1), 0..2, &random(2, 8, 2), &random(1, 8, 3), 1e-5);
    assert_eq!(error.unwrap_err().to_string(), "add_rmsnorm_rows: the addend's shape must be [4, 8]; got [2, 8]");
}

#[test]
fn add_rmsnorm_rows_rejects_rows_past_the_end() {
    let error = CpuBackend.add_rmsnorm_rows(&mut random(4, 8, 1), 3..5, &random(4, 8, 2), &random(1, 8, 3), 1e-5);
    assert_eq!(error.unwrap_err().to_string(), "add_rmsnorm_rows: the row range must be within 0..4; got 3..5");
}

#[test]
fn add_rmsnorm_rows_rejects_a_weight_of_another_width() {
    let error = CpuBackend.add_rmsnorm_rows(&mut random(4, 8, 1), 0..2, &random(4, 8, 2), &random(1, 6, 3), 1e-5);
    assert_eq!(error.unwrap_err().to_string(), "add_rmsnorm_rows: the weight's length must be 8; got 6");
}
