//! Indexing: `x[i, lo .. lo + LEN, ..]` on a tensor parameter is a masked tile
//! load (or, on the left of `=`, a store); `x[.., idx, ..]` with an i32 tile `idx`
//! gathers (in loads) and scatters (in stores); `t[:, None]` on a tile value inserts size-1 dimensions.

use super::{LResult, Lowerer, Val};
use crate::check::consts::Constant;
use crate::check::scope::Global;
use crate::check::types;
use crate::diag::{DiagKind, Span};
use crate::ir::builder::KernelBuilder;
use crate::ir::{DType, Index, Param, ParamId};
use crate::syntax::ast::{self, BinaryOp, ExprKind, IndexEntry};

impl Lowerer<'_> {
    pub(super) fn index(
        &mut self,
        b: &mut KernelBuilder,
        base: &ast::Expr,
        entries: &[IndexEntry],
        span: Span,
    ) -> LResult<Val> {
        if let Some(tensor) = self.tensor_named_by(base) {
            self.runtime_only("a tensor load", span)?;
            let (indices, _) = self.access_indices(b, tensor, entries, span)?;
            return Ok(Val::Value(b.load(tensor, indices)));
        }
        let v = self.expr(b, base)?;
        self.expand_dims(b, v, entries, span)
    }

    fn tensor_named_by(&self, e: &ast::Expr) -> Option<ParamId> {
        match &e.kind {
            ExprKind::Name(name) => self.tensor_named(name),
            _ => None,
        }
    }

    /// The tensor parameter called `name`, unless a local shadows it.
    pub(super) fn tensor_named(&self, name: &str) -> Option<ParamId> {
        if self.scopes.lookup(name).is_some() {
            return None;
        }
        match self.globals.get(name) {
            Some(Global::Tensor(p)) => Some(p),
            _ => None,
        }
    }

    /// IR indices of a store into a tensor and the shape of the tile it selects.
    pub(super) fn tensor_indices(
        &mut self,
        b: &mut KernelBuilder,
        tensor: ParamId,
        entries: &[IndexEntry],
        span: Span,
    ) -> LResult<(Vec<Index>, Vec<u32>)> {
        self.access_indices(b, tensor, entries, span)
    }

    /// IR indices of a tensor access and the shape of the tile it selects.
    fn access_indices(
        &mut self,
        b: &mut KernelBuilder,
        tensor: ParamId,
        entries: &[IndexEntry],
        span: Span,
    ) -> LResult<(Vec<Index>, Vec<u32>)> {
        let (name, dims, const_dims) = match b.params().get(tensor.0 as usize) {
            Some(Param::Tensor { name, dims, const_dims, .. }) => (name.clone(), dims.clone(), const_dims.clone()),
            _ => return Err(self.error(DiagKind::Type, span, "indexing needs a tensor parameter")),
        };
        if entries.len() != dims.len() {
            let s = if entries.len() == 1 { "" } else { "es" };
            return Err(self.error(
                DiagKind::Shape,
                span,
                format!(
                    "`{name}` has {} dimensions [{}]; got {} index{s}, one per dimension is needed",
                    dims.len(),
                    dims.join(", "),
                    entries.len()
                ),
            ));
        }
        let mut indices = Vec::new();
        let mut shape = Vec::new();
        for (axis, entry) in entries.iter().enumerate() {
            let index = match entry {
                IndexEntry::Point(e) => {
                    let v = self.expr(b, e)?;
                    if self.type_of(b, &v).is_scalar() {
                        Index::Point(self.i32_scalar(b, v, "a tensor index", e.span)?)
                    } else {
                        self.gather(b, v, e.span)?
                    }
                }
                IndexEntry::Range { lo, hi } => self.range(b, lo, hi)?,
                IndexEntry::Full(full) => match const_dims[axis] {
                    Some(len) => {
                        let len = types::tile_dim(len as i64).map_err(|m| {
                            self.error(DiagKind::Shape, *full, format!("`..` over `{}` of `{name}`: {m}", dims[axis]))
                        })?;
                        let start = self.constant(b, &Constant::weak_int(0), None, *full)?;
                        Index::Range { start, len }
                    }
                    None => {
                        return Err(self.error(
                            DiagKind::Const,
                            *full,
                            format!(
                                "`..` needs the size of `{name}`'s dimension `{dim}` at compile time, but `{dim}` is a \
                                 runtime size; declare `{dim}` as a const parameter or index with `lo .. lo + LEN`",
                                dim = dims[axis]
                            ),
                        ))
                    }
                },
                IndexEntry::Keep(s) | IndexEntry::NewAxis(s) => {
                    return Err(self.error(
                        DiagKind::Type,
                        *s,
                        format!(
                            "`:` and `None` reshape tile values; index tensor `{name}` with a position, \
                             `lo .. lo + LEN` or `..`"
                        ),
                    ))
                }
            };
            match index {
                Index::Point(_) => {}
                Index::Range { len, .. } => shape.push(len),
                Index::Gather(v) => shape.extend_from_slice(&b.value_type(v).shape),
            }
            indices.push(index);
        }
        types::tile_size(&shape).map_err(|m| self.error(DiagKind::Shape, span, m))?;
        Ok((indices, shape))
    }

    /// A tile used as a tensor index: an i32 tile `[L]` of positions along that dimension
    /// (a gather in a load, a scatter in a store).
    fn gather(&mut self, b: &mut KernelBuilder, v: Val, span: Span) -> LResult<Index> {
        let ty = self.type_of(b, &v);
        if ty.dtype != DType::I32 {
            return Err(self.error(DiagKind::Type, span, format!("gather indices must be i32; got {}", ty.dtype)));
        }
        if ty.rank() != 1 {
            return Err(self.error(DiagKind::Shape, span, format!("gather indices must be a rank-1 tile; got {ty}")));
        }
        Ok(Index::Gather(self.materialize(b, v, span)?))
    }

    /// `lo .. hi` with a constant length: `hi` is written `lo + LEN` (or
    /// `LEN + lo`), or both ends are constants.
    fn range(&mut self, b: &mut KernelBuilder, lo: &ast::Expr, hi: &ast::Expr) -> LResult<Index> {
        let len_expr = match &hi.kind {
            ExprKind::Binary { op: BinaryOp::Add, lhs, rhs } if lhs.same_as(lo) => Some(rhs.as_ref()),
            ExprKind::Binary { op: BinaryOp::Add, lhs, rhs } if rhs.same_as(lo) => Some(lhs.as_ref()),
            _ => None,
        };
        let start = self.expr(b, lo)?;
        let len = match len_expr {
            Some(e) => self.tile_dim(b, e)?,
            None => {
                let end = self.expr(b, hi)?;
                let (Val::Const(s), Val::Const(e)) = (start, end) else {
                    return Err(self.error(
                        DiagKind::Const,
                        lo.span.to(hi.span),
                        "the length of a range must be a compile-time constant; write it as `lo .. lo + LEN`",
                    ));
                };
                let len = match (s.as_int(), e.as_int()) {
                    (Some(s), Some(e)) => e - s,
                    _ => {
                        return Err(self.error(DiagKind::Type, lo.span.to(hi.span), "range bounds must be i32"));
                    }
                };
                types::tile_dim(len).map_err(|m| self.error(DiagKind::Shape, lo.span.to(hi.span), m))?
            }
        };
        let start = self.i32_scalar(b, start, "a range start", lo.span)?;
        Ok(Index::Range { start, len })
    }

    fn expand_dims(&mut self, b: &mut KernelBuilder, v: Val, entries: &[IndexEntry], span: Span) -> LResult<Val> {
        if let Some(bad) = entries.iter().find(|e| !matches!(e, IndexEntry::Keep(_) | IndexEntry::NewAxis(_))) {
            return Err(self.error(
                DiagKind::Type,
                bad.span(),
                "a tile value is indexed only with `:` and `None`; load from a tensor parameter to select elements",
            ));
        }
        let ty = self.type_of(b, &v);
        let kept = entries.iter().filter(|e| matches!(e, IndexEntry::Keep(_))).count();
        if kept != ty.rank() {
            return Err(self.error(
                DiagKind::Shape,
                span,
                format!("`[...]` keeps {kept} dimensions with `:`, but the value {ty} has rank {}", ty.rank()),
            ));
        }
        self.runtime_only("`None` indexing", span)?;
        let mut id = self.materialize(b, v, span)?;
        for (axis, entry) in entries.iter().enumerate() {
            if matches!(entry, IndexEntry::NewAxis(_)) {
                id = b.expand_dims(id, axis as u32);
            }
        }
        Ok(Val::Value(id))
    }
}
