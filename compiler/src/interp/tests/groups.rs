//! `groups(G)`: each program runs the body once per warp group, in order 0..G, with
//! `group_id()` telling the group. Kernels are written in `.tile` source here: the
//! clause and the builtin are front-end features, and these are the semantics the
//! GPU lowering must reproduce.

use super::*;

/// Lowers `src` (one kernel), runs it on `args`, and renders argument `index`.
fn run_source(src: &str, mut args: Vec<ArgValue>, index: usize) -> String {
    let kernel = match crate::lower_source(src, None, &[]) {
        Ok(k) => k,
        Err(e) => return format!("does not compile: {e}"),
    };
    if let Err(e) = run(&kernel, &mut args) {
        return format!("error: {e}");
    }
    match args.swap_remove(index) {
        ArgValue::Tensor(t) => render(&t),
        other => format!("argument {index} is {other:?}, not a tensor"),
    }
}

/// An i32 output of `n` elements, each -1 so an unwritten one shows.
fn unwritten(n: usize) -> ArgValue {
    ArgValue::Tensor(HostTensor::filled(DType::I32, &[n], -1.0))
}

#[test]
fn each_group_writes_its_own_rows() {
    // Program p, group g writes 10 * p + g into rows (2p + g) * 4 .. + 4.
    let src = "kernel k(o: tensor<i32>[N]) grid(cdiv(N, 8)) groups(2) warps(1) {
        let base = (program_id(0) * 2 + group_id()) * 4;
        o[base .. base + 4] = full([4], program_id(0) * 10 + group_id());
    }";
    check(run_source(src, vec![unwritten(16)], 0), "[0, 0, 0, 0, 1, 1, 1, 1, 10, 10, 10, 10, 11, 11, 11, 11]");
}

#[test]
fn four_groups_each_see_their_own_id() {
    let src = "kernel k(o: tensor<i32>[N]) grid(1) groups(4) {
        o[group_id()] = group_id() * 100 + program_id(0);
    }";
    check(run_source(src, vec![unwritten(4)], 0), "[0, 100, 200, 300]");
}

#[test]
fn groups_share_a_loaded_tile() {
    // Every group loads the same x tile (its corner does not depend on group_id) and
    // scales it by its own factor into its own row of o.
    let src = "kernel k(x: tensor<f32>[D], o: tensor<f32>[G, D]) grid(1) groups(2) warps(1) {
        let t = x[0 .. 4];
        let g = group_id();
        o[g, 0 .. 4] = t * cast<f32>(g + 1);
    }";
    let x = ArgValue::Tensor(tensor(DType::F32, &[1.0, 2.0, 3.0, 4.0]));
    let o = ArgValue::Tensor(HostTensor::filled(DType::F32, &[2, 4], f64::NAN));
    check(run_source(src, vec![x, o], 1), "[1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0]");
}

#[test]
fn groups_share_the_tiles_of_a_loop() {
    // Both groups sum the same x tiles in a loop, each adding its own offset once.
    let src = "kernel k(x: tensor<i32>[N], o: tensor<i32>[G]) grid(1) groups(2) {
        let mut acc = full([4], 0);
        for i in (0 .. N).step_by(4) {
            acc = acc + x[i .. i + 4];
        }
        o[group_id()] = sum(acc, axis: 0) + group_id() * 1000;
    }";
    let x = ArgValue::Tensor(tensor(DType::I32, &(1..=8).map(f64::from).collect::<Vec<_>>()));
    check(run_source(src, vec![x, unwritten(2)], 1), "[36, 1036]");
}

#[test]
fn group_id_is_zero_without_the_clause() {
    let src = "kernel k(o: tensor<i32>[N]) grid(3) {
        o[program_id(0)] = group_id() + 7;
    }";
    check(run_source(src, vec![unwritten(3)], 0), "[7, 7, 7]");
}

#[test]
fn without_the_clause_the_body_runs_once_per_program() {
    let src = "kernel k(o: tensor<i32>[N]) grid(1) {
        o[0] = o[0] + 1;
    }";
    check(run_source(src, vec![ArgValue::Tensor(HostTensor::zeros(DType::I32, &[1]))], 0), "[1]");
}

#[test]
fn groups_run_in_order_within_each_program() {
    // Each run bumps a counter in o[0] and records the count it saw at o[1 + 2p + g]. On
    // the GPU groups run at once: only the interpreter orders them.
    let src = "kernel k(o: tensor<i32>[N]) grid(2) groups(2) {
        let count = o[0] + 1;
        o[0] = count;
        o[1 + program_id(0) * 2 + group_id()] = count;
    }";
    check(run_source(src, vec![ArgValue::Tensor(HostTensor::zeros(DType::I32, &[5]))], 0), "[4, 1, 2, 3, 4]");
}

#[test]
fn the_later_group_store_lands_last() {
    // Unspecified on the GPU: kernels must not store one element from two groups.
    let src = "kernel k(o: tensor<i32>[N]) grid(1) groups(4) {
        o[0] = group_id();
    }";
    check(run_source(src, vec![unwritten(1)], 0), "[3]");
}

#[test]
fn an_error_names_the_group() {
    let src = "kernel k(o: tensor<i32>[N]) grid(1) groups(2) {
        o[0] = 1 / (group_id() - 1);
    }";
    check(
        run_source(src, vec![unwritten(1)], 0),
        "error: integer `div` by zero in program (0, 0, 0), group 1; the divisor must be nonzero in every element, \
         masked ones included",
    );
}

#[test]
fn group_id_in_the_grid_block_is_an_error() {
    let mut b = KernelBuilder::new("grid_group", 1);
    b.grid(|b| {
        let g = b.group_id();
        [g, g, g]
    });
    check(
        match eval_grid(&b.finish(), &[]) {
            Ok(sizes) => format!("{sizes:?}"),
            Err(e) => format!("error: {e}"),
        },
        "error: `group_id` cannot run in the grid block: it is evaluated on the host from shapes and scalar arguments only",
    );
}

#[test]
fn zero_groups_is_malformed() {
    let mut b = KernelBuilder::new("no_groups", 1);
    single_program(&mut b);
    let mut kernel = b.finish();
    kernel.num_groups = 0;
    check(
        run(&kernel, &mut []).map_or_else(|e| e.to_string(), |()| "ran".to_string()),
        "malformed Tile IR at `groups`: the kernel has 0 groups; it must have 1..=4",
    );
}
