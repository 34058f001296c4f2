//! `groups(G)` and `group_id()`: what they lower to, and each rule's error at the
//! offending expression.

use super::*;

fn int(v: i64) -> ConstValue {
    ConstValue::Int(v)
}

/// The error for `groups(g)` on a kernel of `warps` warps, at its argument.
fn groups_error(warps: u32, g: i64) -> String {
    errors(&format!("kernel k() grid(1) warps({warps}) groups({g}) {{ }}"))
}

/// The message `groups_error` should give: groups up to `most` for `warps` warps.
fn groups_range(warps: u32, most: u32, got: i64) -> String {
    let column = if warps < 10 { 36 } else { 37 };
    format!(
        "1:{column}: `groups` must be a power of two from 1 to {most} for {warps} warps a group (a program has at \
         most 4 groups and 1024 threads); got {got}"
    )
}

// ---- The header clause --------------------------------------------------------------

#[test]
fn groups_default_to_one() {
    assert_eq!(lower("kernel k() grid(1) warps(8) stages(3) { }").num_groups, 1);
}

#[test]
fn groups_sets_num_groups() {
    let k = lower("kernel k() grid(1) groups(2) { }");
    assert_eq!((k.num_groups, k.num_warps, k.threads_per_program()), (2, 4, 256));
}

#[test]
fn groups_fold_from_consts_in_any_order() {
    let src = "kernel k<G: i32 = 1>() grid(1) stages(3) groups(G * 2) warps(2) { }";
    let k = lower(src);
    assert_eq!((k.num_groups, k.num_warps, k.num_stages), (2, 2, 3));
    assert_eq!(lower_with(src, &[("G", int(2))]).num_groups, 4);
}

#[test]
fn groups_up_to_the_threads_of_a_program() {
    assert_eq!(lower("kernel k() grid(1) warps(8) groups(4) { }").threads_per_program(), 1024);
}

#[test]
fn groups_is_still_an_ordinary_name() {
    let k = lower("kernel k(o: tensor<i32>[N]) grid(1) groups(2) { let groups = 3; o[0] = groups; }");
    assert_eq!(k.num_groups, 2);
}

#[test]
fn groups_not_a_power_of_two() {
    assert_eq!(groups_error(4, 3), groups_range(4, 4, 3));
}

#[test]
fn groups_zero() {
    assert_eq!(groups_error(4, 0), groups_range(4, 4, 0));
}

#[test]
fn groups_negative() {
    assert_eq!(groups_error(1, -2), groups_range(1, 4, -2));
}

#[test]
fn groups_past_the_most_groups() {
    assert_eq!(groups_error(1, 8), groups_range(1, 4, 8));
}

#[test]
fn groups_past_the_threads_of_a_program() {
    assert_eq!(groups_error(16, 4), groups_range(16, 2, 4));
}

#[test]
fn groups_of_32_warps_must_be_one() {
    assert_eq!(groups_error(32, 2), groups_range(32, 1, 2));
}

#[test]
fn groups_checked_against_warps_written_after_them() {
    assert_eq!(
        errors("kernel k() grid(1) groups(2) warps(32) { }"),
        "1:27: `groups` must be a power of two from 1 to 1 for 32 warps a group (a program has at most 4 groups \
         and 1024 threads); got 2"
    );
}

#[test]
fn groups_from_a_const_override_are_checked() {
    let src = "kernel k<G: i32 = 2>() grid(1) groups(G) { }";
    assert_eq!(
        errors_with(src, &[("G", int(5))]),
        "1:39: `groups` must be a power of two from 1 to 4 for 4 warps a group (a program has at most 4 groups \
         and 1024 threads); got 5"
    );
}

#[test]
fn groups_from_a_parameter() {
    assert_eq!(
        errors("kernel k(n: i32) grid(1) groups(n) { }"),
        "1:33: `groups` must be a compile-time constant; parameter `n` is not"
    );
}

#[test]
fn groups_given_twice() {
    assert_eq!(
        errors("kernel k() grid(1) groups(2) groups(2) { }"),
        "1:30: `groups` is given twice; a kernel takes each option once"
    );
}

// ---- occupancy counts every group's threads -------------------------------------------

#[test]
fn occupancy_counts_every_groups_threads() {
    assert_eq!(
        errors("kernel k() grid(1) warps(4) groups(4) occupancy(5) { }"),
        "1:49: `occupancy` must be from 1 to 4 programs an SM for 512 threads a program (an SM holds at most 32 \
         programs and 2048 threads); got 5"
    );
}

#[test]
fn occupancy_of_grouped_programs_that_fit() {
    assert_eq!(lower("kernel k() grid(1) occupancy(4) groups(4) warps(4) { }").occupancy, Some(4));
}

// ---- group_id() -------------------------------------------------------------------

#[test]
fn group_id_lowers_to_one_i32_group_id() {
    let k = lower("kernel k(o: tensor<i32>[N]) grid(1) groups(2) { o[group_id()] = group_id() * 2; }");
    assert_eq!(types_of(&k, "group_id"), ["i32", "i32"]);
}

#[test]
fn group_id_without_the_clause_lowers_too() {
    let k = lower("kernel k(o: tensor<i32>[N]) grid(1) { o[0] = group_id(); }");
    assert_eq!((count(&k, "group_id"), k.num_groups), (1, 1));
}

#[test]
fn group_id_starts_a_range() {
    let src = "kernel k(o: tensor<f32>[N]) grid(1) groups(4) {\n    let g = group_id() * 16;\n    \
               o[g .. g + 16] = zeros([16]);\n}";
    assert_eq!(types_of(&lower(src), "group_id"), ["i32"]);
}

#[test]
fn group_id_inside_a_helper_fn() {
    let src = "fn row() -> i32 { group_id() + 1 }\nkernel k(o: tensor<i32>[N]) grid(1) groups(2) { o[row()] = row(); }";
    assert_eq!(count(&lower(src), "group_id"), 2);
}

#[test]
fn group_id_takes_no_argument() {
    assert_eq!(
        errors(&kernel("", "    let g = group_id(0);")),
        "2:13: `group_id` is called as `group_id()`; got 1 argument"
    );
}

#[test]
fn group_id_takes_no_axis() {
    assert_eq!(
        errors(&kernel("", "    let g = group_id(axis: 0);")),
        "2:13: `group_id` takes no `axis:` argument; it is called as `group_id()`"
    );
}

#[test]
fn group_id_is_suggested() {
    assert_eq!(
        errors(&kernel("", "    let g = grup_id();")),
        "2:13: unknown function `grup_id`; did you mean `group_id`?"
    );
}

#[test]
fn grid_cannot_use_group_id() {
    assert_eq!(
        errors("kernel k() grid(group_id() + 1) { }"),
        "1:17: `group_id` cannot be used in a grid size; grid sizes are i32 scalars computed on the host"
    );
}

#[test]
fn group_id_is_not_a_constant() {
    assert_eq!(
        errors("kernel k<B: i32 = group_id()>() grid(1) { }"),
        "1:19: a const default must be a compile-time constant; `group_id` is not"
    );
}

#[test]
fn group_id_cannot_size_a_tile() {
    assert_eq!(
        errors(&kernel("", "    let z = zeros([group_id()]);")),
        "2:20: a tile shape must be a compile-time constant"
    );
}

#[test]
fn groups_cannot_be_group_id() {
    assert_eq!(
        errors("kernel k() grid(1) groups(group_id()) { }"),
        "1:27: `groups` must be a compile-time constant; `group_id` is not"
    );
}

#[test]
fn no_fn_may_be_named_group_id() {
    assert_eq!(
        errors("fn group_id() -> i32 { 0 }\nkernel k() grid(1) { }"),
        "1:4: fn `group_id` has the name of a builtin function; builtins cannot be redefined"
    );
}
