//! The kernels shipped in patterns/kernels/ (included, so the tests follow them) and
//! the language sketch's rmsnorm with a `HAS_W` switch, shared by the parser and
//! checker tests so both run on realistic input.

pub const VECTOR_ADD: &str = include_str!("../../../patterns/kernels/vector_add.tile");

pub const SOFTMAX: &str = include_str!("../../../patterns/kernels/softmax.tile");

pub const RMSNORM: &str = include_str!("../../../patterns/kernels/rmsnorm.tile");

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
