//! "Did you mean" hints for misspelled names.

/// The candidate closest to `name` by edit distance, if it is close enough to be
/// a plausible typo: at most a third of the name's length (at least 1), and not
/// every character changed.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let budget = (len / 3).max(1).min(len.saturating_sub(1));
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|&(d, _)| d <= budget)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Appends "; did you mean `x`?" when a close candidate exists.
pub fn did_you_mean<'a>(message: String, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(name, candidates) {
        Some(c) => format!("{message}; did you mean `{c}`?"),
        None => message,
    }
}

/// Edit distance over characters where insertion, deletion, substitution and a
/// swap of two adjacent characters each cost 1 (optimal string alignment).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    // d[i][j]: distance between the first i chars of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_typo_is_suggested() {
        assert_eq!(closest("BLOK", ["BLOCK", "HAS_W"]), Some("BLOCK"));
    }

    #[test]
    fn distant_names_are_not_suggested() {
        assert_eq!(closest("xyz", ["BLOCK", "row"]), None);
    }

    #[test]
    fn the_closest_wins() {
        assert_eq!(closest("summ", ["sum", "sqrt"]), Some("sum"));
    }

    #[test]
    fn edit_distance_counts_insertions_and_substitutions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn swapped_letters_cost_one() {
        assert_eq!(edit_distance("rwo", "row"), 1);
    }

    #[test]
    fn single_letter_names_get_no_suggestion() {
        assert_eq!(closest("c", ["a", "b"]), None);
    }

    #[test]
    fn did_you_mean_leaves_message_alone_without_candidate() {
        assert_eq!(did_you_mean("unknown name `q`".into(), "q", ["BLOCK"]), "unknown name `q`");
    }
}
