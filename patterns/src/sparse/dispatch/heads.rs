//! How a pattern group's query heads are taken on the device, where [`super::select_heads`] copies
//! them on the host.
//!
//! The kernels read kv head `h / (H / HKV)` for query head `h` of their `H`. A whole GQA group (the
//! `G = H / HKV` query heads of one kv head) keeps that mapping in a view: consecutive whole groups of
//! a run of the group's heads ([`HeadGroup::runs`]) are its q and o columns `[T, n G, D]` over its `n`
//! kv heads `[T, n, D]`, strided views of the caller's tensors, so nothing is copied ([`HeadView`]).
//! The heads of GQA groups the pattern group only cuts are gathered, in group order, into packed
//! `[T, m, D]` buffers with a copy of its kv head for each query head (plain multi-head attention, as
//! `select_heads` does for a cut group), run once for all of them, and their o copied back
//! ([`Packed`]). So a config whose patterns follow the GQA groups moves nothing, and one that cuts
//! them copies only the heads of the groups it cuts, with one run for all of those.

use super::{DispatchError, HeadGroup};
use crate::attention::ShapeError;
use crate::sparse::local::query_blocks::InputError;
use sparsefill_runtime::Layout;

/// Query heads `head .. head + len`, whole GQA groups, reading kv heads `kv .. kv + kv_len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadView {
    pub head: usize,
    pub len: usize,
    pub kv: usize,
    pub kv_len: usize,
}

/// Gathered heads: packed heads `at .. at + len` are query heads `head .. head + len`, which all
/// read kv head `kv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packed {
    pub at: usize,
    pub head: usize,
    pub len: usize,
    pub kv: usize,
}

/// A group's heads as views and gathered pieces; every head is in exactly one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeadPlan {
    pub views: Vec<HeadView>,
    pub gathered: Vec<Packed>,
}

impl HeadPlan {
    /// The plan of `group` in a layer of `heads` query heads over `kv_heads` kv heads.
    pub fn new(group: &HeadGroup, heads: usize, kv_heads: usize) -> Result<HeadPlan, DispatchError> {
        if kv_heads == 0 || !heads.is_multiple_of(kv_heads) {
            return Err(InputError::Shape(ShapeError::HeadsNotGrouped { heads, kv_heads }).into());
        }
        if group.heads.is_empty() {
            return Err(DispatchError::NoHeads);
        }
        if let Some(&head) = group.heads.iter().find(|&&x| x >= heads) {
            return Err(DispatchError::Head { head, heads });
        }
        let size = heads / kv_heads;
        let mut plan = HeadPlan::default();
        for run in group.runs() {
            let end = run.head + run.len;
            let mut head = run.head;
            while head < end {
                let kv = head / size;
                let len = end.min((kv + 1) * size) - head;
                plan.add(head, len, kv, size);
                head += len;
            }
        }
        Ok(plan)
    }

    /// Adds query heads `head .. head + len` of kv head `kv`'s group: a view when they are the
    /// whole group (joining the view just before it), else gathered.
    fn add(&mut self, head: usize, len: usize, kv: usize, size: usize) {
        if len < size {
            let at = self.packed_heads();
            self.gathered.push(Packed { at, head, len, kv });
            return;
        }
        match self.views.last_mut() {
            Some(view) if view.head + view.len == head => {
                view.len += len;
                view.kv_len += 1;
            }
            _ => self.views.push(HeadView { head, len, kv, kv_len: 1 }),
        }
    }

    /// How many heads the packed buffers hold (0: nothing is gathered).
    pub fn packed_heads(&self) -> usize {
        self.gathered.iter().map(|p| p.len).sum()
    }
}

/// Where the heads of a `[T, N, D]` tensor lie: element `[t, n, i]` at `t * row + n * head + i`
/// (each head's `D` elements contiguous), as a row-major `[T, N * D]` activation (`row = N D`,
/// `head = D`) or a `[N, capacity, D]` cache (`row = D`, `head = capacity D`) holds them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeadLayout {
    pub tokens: usize,
    pub head_dim: usize,
    pub row: usize,
    pub head: usize,
}

impl HeadLayout {
    /// Heads `first .. first + count` as a `[T, count, D]` view.
    pub fn range(&self, first: usize, count: usize) -> Layout {
        Layout {
            shape: vec![self.tokens, count, self.head_dim],
            strides: vec![self.row, self.head, 1],
            offset: first * self.head,
        }
    }

    /// Head `head`, `count` times over, as a `[T, count, D]` view (head stride 0): the kv head
    /// that `count` packed query heads read, copied once for each.
    pub fn repeated(&self, head: usize, count: usize) -> Layout {
        Layout { strides: vec![self.row, 0, 1], ..self.range(head, count) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PatternKind;

    fn group(heads: &[usize]) -> HeadGroup {
        HeadGroup { kind: PatternKind::Dense, heads: heads.to_vec() }
    }

    fn plan(heads: &[usize], h: usize, hkv: usize) -> HeadPlan {
        HeadPlan::new(&group(heads), h, hkv).unwrap_or_else(|e| panic!("{e}"))
    }

    fn view(head: usize, len: usize, kv: usize, kv_len: usize) -> HeadView {
        HeadView { head, len, kv, kv_len }
    }

    fn packed(at: usize, head: usize, len: usize, kv: usize) -> Packed {
        Packed { at, head, len, kv }
    }

    #[test]
    fn consecutive_whole_gqa_groups_are_one_view() {
        // 8 query heads over 2 kv heads: heads 0..8 are both groups.
        assert_eq!(plan(&[0, 1, 2, 3, 4, 5, 6, 7], 8, 2), HeadPlan { views: vec![view(0, 8, 0, 2)], gathered: vec![] });
    }

    #[test]
    fn whole_gqa_groups_apart_are_one_view_each() {
        // Groups of 2: heads 0, 1 (kv 0) and 4, 5 (kv 2).
        assert_eq!(plan(&[0, 1, 4, 5], 6, 3).views, vec![view(0, 2, 0, 1), view(4, 2, 2, 1)]);
    }

    #[test]
    fn multi_head_attention_takes_any_heads_as_views() {
        assert_eq!(plan(&[1, 3, 4], 6, 6).views, vec![view(1, 1, 1, 1), view(3, 2, 3, 2)]);
    }

    #[test]
    fn heads_that_cut_gqa_groups_are_gathered_each_with_its_kv_head() {
        // Groups of 3: head 1 is kv 0's, head 3 kv 1's.
        let expected = HeadPlan { views: vec![], gathered: vec![packed(0, 1, 1, 0), packed(1, 3, 1, 1)] };
        assert_eq!(plan(&[1, 3], 6, 2), expected);
    }

    #[test]
    fn a_run_across_a_group_boundary_is_gathered_in_pieces_of_one_kv_head() {
        // Groups of 2: heads 1, 2 read kv heads 0 and 1.
        assert_eq!(plan(&[1, 2], 4, 2).gathered, vec![packed(0, 1, 1, 0), packed(1, 2, 1, 1)]);
    }

    #[test]
    fn a_run_keeps_its_whole_groups_as_a_view_and_gathers_the_rest() {
        // Groups of 2: heads 1 | 2, 3 | 4 → kv 1 whole, kv 0 and kv 2 cut.
        let expected =
            HeadPlan { views: vec![view(2, 2, 1, 1)], gathered: vec![packed(0, 1, 1, 0), packed(1, 4, 1, 2)] };
        assert_eq!(plan(&[1, 2, 3, 4], 6, 3), expected);
    }

    #[test]
    fn packed_heads_count_every_gathered_head() {
        assert_eq!(plan(&[0, 1, 2, 4, 5], 8, 2).packed_heads(), 5);
    }

    #[test]
    fn a_head_past_the_layer_is_refused() {
        let err = HeadPlan::new(&group(&[1, 6]), 6, 2).unwrap_err();
        assert!(matches!(err, DispatchError::Head { head: 6, heads: 6 }), "{err}");
    }

    #[test]
    fn an_empty_group_is_refused() {
        assert!(matches!(HeadPlan::new(&group(&[]), 6, 2), Err(DispatchError::NoHeads)));
    }

    #[test]
    fn kv_heads_that_do_not_divide_the_heads_are_refused() {
        let err = HeadPlan::new(&group(&[0]), 6, 4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "selecting query heads: kv_heads must be at least 1 and divide heads (grouped-query attention); got \
             heads 6, kv_heads 4"
        );
    }

    #[test]
    fn activation_heads_are_columns_of_their_rows() {
        // [5, 4 * 16]: heads 1..3.
        let q = HeadLayout { tokens: 5, head_dim: 16, row: 64, head: 16 };
        assert_eq!(q.range(1, 2), Layout { shape: vec![5, 2, 16], strides: vec![64, 16, 1], offset: 16 });
    }

    #[test]
    fn cache_heads_are_capacity_rows_apart() {
        // [2, 100, 16] holding 70 tokens: kv head 1.
        let kv = HeadLayout { tokens: 70, head_dim: 16, row: 16, head: 1600 };
        assert_eq!(kv.range(1, 1), Layout { shape: vec![70, 1, 16], strides: vec![16, 1600, 1], offset: 1600 });
    }

    #[test]
    fn a_repeated_head_has_head_stride_zero() {
        let kv = HeadLayout { tokens: 70, head_dim: 16, row: 16, head: 1600 };
        assert_eq!(kv.repeated(1, 3), Layout { shape: vec![70, 3, 16], strides: vec![16, 0, 1], offset: 1600 });
    }
}
