//! Warp groups (`groups(2)`) on the GPU against the interpreter, bit for bit: bf16
//! integers in -1..=1 make every product and sum exact. Each kernel isolates one part of
//! what the pairs' vertical-slash walk does: a stream of tiles the producer copies once
//! for both groups, a group skipping some of them, a product carried to the next owned
//! tile over a stage that holds the previous tile's values, and a loop whose trip
//! count differs between the groups.

use rand::{Rng, SeedableRng};
use sparsefill_compiler::interp::ArgValue;
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;

use super::exact::{assert_exact, both, poisoned};

/// Group g of program p: rows (2p + g) * 64 of `a` against each 64-row tile of `b`, the
/// tiles it owns (`own[p, j]`'s bit g) summed into its rows of `c`.
const SKIP: &str = r#"kernel skip(a: tensor<bf16>[M, K], b: tensor<bf16>[N, K], own: tensor<i32>[P, J], c: tensor<f32>[M, E])
    grid(P) warps(4) groups(2) stages(3) {
    let p = program_id(0);
    let m0 = (2 * p + group_id()) * 64;
    let at = a[m0 .. m0 + 64, 0 .. 64];
    let bit = 1 + group_id();
    let mut acc = zeros([64, 64]);
    for j in 0 .. J {
        let bt = b[j * 64 .. j * 64 + 64, 0 .. 64];
        if own[p, j] / bit % 2 == 1 {
            acc = acc + dot(at, trans(bt));
        }
    }
    c[m0 .. m0 + 64, 0 .. 64] = acc;
}
"#;

/// The pairs' walk with exact math: an owned tile's "scores" `s = a . b_j^T` become the
/// weights of the next owned step's product with the previous tile's values (`v[j - 1]`,
/// copied with tile j), a skipped tile after an owned one completes that product, and
/// the last owned tile's product follows the loop with a tile loaded there.
const WALK: &str = r#"kernel walk(a: tensor<bf16>[M, K], b: tensor<bf16>[N, K], v: tensor<bf16>[N, K], own: tensor<i32>[P, J], c: tensor<f32>[M, E])
    grid(P) warps(4) groups(2) stages(3) {
    let p = program_id(0);
    let m0 = (2 * p + group_id()) * 64;
    let at = a[m0 .. m0 + 64, 0 .. 64];
    let bit = 1 + group_id();
    let mut acc = zeros([64, 64]);
    let mut w = zeros([64, 64]);
    let mut owned_last = false;
    let mut owner = own[p, 0];
    for j in 0 .. J {
        let owner_next = own[p, j + 1];
        let bt = b[j * 64 .. j * 64 + 64, 0 .. 64];
        let jp = max(j - 1, 0);
        let v_prev = v[jp * 64 .. jp * 64 + 64, 0 .. 64];
        let owned = owner / bit % 2 == 1;
        if owned {
            let s = dot(at, trans(bt));
            acc = acc + dot(cast<bf16>(w), v_prev);
            w = s;
        } else if owned_last {
            acc = acc + dot(cast<bf16>(w), v_prev);
            w = zeros([64, 64]);
        }
        owned_last = owned;
        owner = owner_next;
    }
    if owned_last {
        let last = J - 1;
        acc = acc + dot(cast<bf16>(w), v[last * 64 .. last * 64 + 64, 0 .. 64]);
    }
    c[m0 .. m0 + 64, 0 .. 64] = acc;
}
"#;

/// Each group walks its own tiles of `b` (every other one, from its own): a loop whose
/// corners depend on `group_id()`, which each group copies for itself.
const OWN: &str = r#"kernel own(a: tensor<bf16>[M, K], b: tensor<bf16>[N, K], c: tensor<f32>[M, E])
    grid(cdiv(M, 128)) warps(4) groups(2) stages(3) {
    let m0 = (program_id(0) * 2 + group_id()) * 64;
    let at = a[m0 .. m0 + 64, 0 .. 64];
    let mut acc = zeros([64, 64]);
    for j in (group_id() .. N / 64).step_by(2) {
        acc = acc + dot(at, trans(b[j * 64 .. j * 64 + 64, 0 .. 64]));
    }
    c[m0 .. m0 + 64, 0 .. 64] = acc;
}
"#;

fn small_ints(shape: &[usize], rng: &mut rand::rngs::StdRng) -> HostTensor {
    let n = shape.iter().product();
    HostTensor::from_f64(DType::BF16, shape, (0..n).map(|_| f64::from(rng.random_range(-1..=1))).collect())
}

/// Owner words 0..=3 for `programs` x `tiles`, plus one entry past the last (the walk
/// reads an entry ahead).
fn owners(programs: usize, tiles: usize, rng: &mut rand::rngs::StdRng) -> HostTensor {
    let data = (0..programs * (tiles + 1)).map(|_| f64::from(rng.random_range(0..4))).collect();
    HostTensor::from_f64(DType::I32, &[programs, tiles + 1], data)
}

/// `source` on `programs` programs and `tiles` tiles of `b` (and `v` where it takes one).
fn check(source: &str, programs: usize, tiles: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let rows = programs * 128;
    let mut args = vec![ArgValue::Tensor(small_ints(&[rows, 64], &mut rng))];
    args.push(ArgValue::Tensor(small_ints(&[tiles * 64, 64], &mut rng)));
    if source.contains("v: tensor") {
        args.push(ArgValue::Tensor(small_ints(&[tiles * 64, 64], &mut rng)));
    }
    if source.contains("own: tensor") {
        // J is the owner rows' width less the entry read ahead.
        let own = owners(programs, tiles, &mut rng);
        args.push(ArgValue::Tensor(own));
    }
    let out = args.len();
    args.push(ArgValue::Tensor(poisoned(DType::F32, &[rows, 64])));
    let source = source.replace("J {", &format!("{tiles} {{")).replace("J - 1", &format!("{tiles} - 1"));
    both(&source, args, &[out]).iter().for_each(assert_exact);
}

#[test]
fn groups_sharing_a_stream_and_skipping_tiles_match_the_interpreter() {
    check(SKIP, 40, 23, 61);
}

#[test]
fn groups_carrying_a_product_over_skipped_tiles_match_the_interpreter() {
    check(WALK, 40, 23, 62);
}

#[test]
fn groups_walking_their_own_tiles_match_the_interpreter() {
    check(OWN, 40, 23, 63);
}
