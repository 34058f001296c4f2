//! `--recall`: each head's recall (the share of its softmax mass the pattern kept, from
//! the pattern's lse) and o's relative error, both against dense attention in f64.

use super::recall::DenseReference;
use super::sparse::{AttentionInputs, SparseOutput};
use super::AttnError;
use crate::cli::table::Table;

pub fn recall_table(inputs: &AttentionInputs, output: &SparseOutput) -> Result<String, AttnError> {
    let reference = DenseReference::all_rows(inputs)?;
    let recall = reference.lse_recall(&output.lse)?;
    let error = reference.output_error(&output.o)?;
    // The relative error is over o's finite elements only, so the count of the others stands beside it.
    let mut table = Table::new(&["head", "recall mean", "recall min", "o rel err", "o non-finite"]);
    for (h, (r, e)) in recall.per_head().iter().zip(&error.per_head).enumerate() {
        table.row(vec![
            h.to_string(),
            format!("{:.4}", r.mean),
            format!("{:.4}", r.min),
            format!("{:.2e}", e.rel_l2),
            e.non_finite.to_string(),
        ]);
    }
    let all = recall.overall();
    table.row(vec![
        "all".into(),
        format!("{:.4}", all.mean),
        format!("{:.4}", all.min),
        format!("{:.2e}", error.total.rel_l2),
        error.total.non_finite.to_string(),
    ]);
    Ok(format!("recall and o error vs dense attention (f64), {} rows:\n{}", recall.rows.len(), table.render()))
}
