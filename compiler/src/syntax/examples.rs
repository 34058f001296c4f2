//! The kernels shipped in patterns/kernels/ (copied here as they were written) and
//! the language sketch's rmsnorm with a `HAS_W` switch, shared by the parser and
//! checker tests so both run on realistic input.

pub const VECTOR_ADD: &str = r#"// Elementwise o = a + b over a 1-D tensor: one BLOCK-wide tile per program,
// computed in f32 and rounded once to bf16.
kernel vector_add<BLOCK: i32 = 1024>(
    a: tensor<bf16>[N],
    b: tensor<bf16>[N],
    o: tensor<bf16>[N],
) grid(cdiv(N, BLOCK)) warps(4) {
    let i0 = program_id(0) * BLOCK;
    let sum = cast<f32>(a[i0 .. i0 + BLOCK]) + cast<f32>(b[i0 .. i0 + BLOCK]);
    o[i0 .. i0 + BLOCK] = cast<bf16>(sum);
}
"#;

pub const SOFTMAX: &str = r#"// Row softmax of a [N, D] matrix, one program per row.
//
// When the row fits one BLOCK-wide tile it is read once, kept in registers, and
// written once: the minimum traffic. Longer rows take the online-softmax path
// (running max and rescaled sum), which reads the row twice.
kernel softmax<BLOCK: i32 = 4096>(
    x: tensor<bf16>[N, D],
    o: tensor<bf16>[N, D],
) grid(N) warps(8) {
    let row = program_id(0);
    let log2e = 1.4426950408889634;
    if D <= BLOCK {
        let cols = arange(0, BLOCK);
        let xv = where(cols < D, cast<f32>(x[row, 0 .. BLOCK]), -inf) * log2e;
        let p = exp2(xv - max(xv, axis: 0));
        o[row, 0 .. BLOCK] = cast<bf16>(p * (1.0 / sum(p, axis: 0)));
    } else {
        let mut m = -inf;
        let mut l = 0.0;
        for c0 in (0 .. D).step_by(BLOCK) {
            let cols = arange(c0, BLOCK);
            let xv = where(cols < D, cast<f32>(x[row, c0 .. c0 + BLOCK]), -inf) * log2e;
            let m_new = max(m, max(xv, axis: 0));
            l = l * exp2(m - m_new) + sum(exp2(xv - m_new), axis: 0);
            m = m_new;
        }
        let inv_l = 1.0 / l;
        for c0 in (0 .. D).step_by(BLOCK) {
            let cols = arange(c0, BLOCK);
            let xv = where(cols < D, cast<f32>(x[row, c0 .. c0 + BLOCK]), -inf) * log2e;
            o[row, c0 .. c0 + BLOCK] = cast<bf16>(exp2(xv - m) * inv_l);
        }
    }
}
"#;

pub const RMSNORM: &str = r#"// Fused RMSNorm: o = x * rsqrt(mean(x²) + eps) * w, one program per row.
//
// A row that fits one BLOCK-wide tile is read once and kept in registers between
// the reduction and the scaling; longer rows are read twice.
kernel rmsnorm<BLOCK: i32 = 4096>(
    x: tensor<bf16>[N, D],
    w: tensor<bf16>[D],
    o: tensor<bf16>[N, D],
    eps: f32,
) grid(N) warps(8) {
    let row = program_id(0);
    if D <= BLOCK {
        let xv = cast<f32>(x[row, 0 .. BLOCK]);
        let inv_rms = rsqrt(sum(xv * xv, axis: 0) / cast<f32>(D) + eps);
        o[row, 0 .. BLOCK] = cast<bf16>(xv * inv_rms * cast<f32>(w[0 .. BLOCK]));
    } else {
        let mut sq = zeros([BLOCK]);
        for c0 in (0 .. D).step_by(BLOCK) {
            let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);
            sq = sq + xv * xv;
        }
        let inv_rms = rsqrt(sum(sq, axis: 0) / cast<f32>(D) + eps);
        for c0 in (0 .. D).step_by(BLOCK) {
            let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);
            o[row, c0 .. c0 + BLOCK] = cast<bf16>(xv * inv_rms * cast<f32>(w[c0 .. c0 + BLOCK]));
        }
    }
}
"#;

/// A const `bool` choosing between two expressions, and a loop-carried accumulator.
pub const RMSNORM_HAS_W: &str = r#"kernel rmsnorm<BLOCK: i32 = 1024, HAS_W: bool = true>(
    x: tensor<bf16>[N, D], w: tensor<bf16>[D], o: tensor<bf16>[N, D], eps: f32,
) grid(N) warps(4) {
    let row = program_id(0);
    let mut acc = zeros([BLOCK]);                         // f32 tile
    for c0 in (0 .. D).step_by(BLOCK) {
        let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);      // masked load: out of bounds reads 0
        acc = acc + xv * xv;
    }
    let inv = rsqrt(sum(acc, axis: 0) / cast<f32>(D) + eps);  // rank-1 reduce -> scalar
    for c0 in (0 .. D).step_by(BLOCK) {
        let cols = arange(c0, BLOCK);
        let xv = cast<f32>(x[row, c0 .. c0 + BLOCK]);
        let y = if HAS_W { xv * inv * cast<f32>(w[c0 .. c0 + BLOCK]) } else { xv * inv };
        o[row, c0 .. c0 + BLOCK] = cast<bf16>(y);          // masked store
    }
}
"#;
