//! A small line diff for `config plan`: what a document changes against the
//! current revision, in unified form with three lines of context.

use std::fmt::Write as _;

/// Above this many line pairs the middle of a diff is shown as replaced
/// wholesale instead of aligned, which keeps plan cheap on huge documents.
const MAX_CELLS: usize = 4_000_000;
const CONTEXT: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// Counts and unified text of the change from `old` to `new`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct LineDiff {
    pub(crate) added: usize,
    pub(crate) removed: usize,
    /// Empty when the documents are equal.
    pub(crate) text: String,
}

pub(crate) fn diff(old: &str, new: &str) -> LineDiff {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let ops = align(&a, &b);
    let added = ops.iter().filter(|(op, _)| *op == Op::Insert).count();
    let removed = ops.iter().filter(|(op, _)| *op == Op::Delete).count();
    LineDiff {
        added,
        removed,
        text: render(&ops),
    }
}

/// Aligns the two line lists: common prefix and suffix, then a longest
/// common subsequence of the middle.
fn align<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<(Op, &str)> = a[..prefix].iter().map(|l| (Op::Equal, *l)).collect();
    if am.len().saturating_mul(bm.len()) > MAX_CELLS {
        ops.extend(am.iter().map(|l| (Op::Delete, *l)));
        ops.extend(bm.iter().map(|l| (Op::Insert, *l)));
    } else {
        ops.extend(lcs(am, bm));
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| (Op::Equal, *l)));
    ops
}

fn lcs<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<(Op, &'a str)> {
    let (n, m) = (a.len(), b.len());
    // table[i][j]: LCS length of a[i..] and b[j..].
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if a[i] == b[j] {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut ops = Vec::with_capacity(n + m);
    while i < n && j < m {
        if a[i] == b[j] {
            ops.push((Op::Equal, a[i]));
            i += 1;
            j += 1;
        } else if table[at(i + 1, j)] >= table[at(i, j + 1)] {
            ops.push((Op::Delete, a[i]));
            i += 1;
        } else {
            ops.push((Op::Insert, b[j]));
            j += 1;
        }
    }
    ops.extend(a[i..].iter().map(|l| (Op::Delete, *l)));
    ops.extend(b[j..].iter().map(|l| (Op::Insert, *l)));
    ops
}

/// Unified hunks: `@@ -old_start,old_len +new_start,new_len @@`.
fn render(ops: &[(Op, &str)]) -> String {
    let changed: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].0 != Op::Equal).collect();
    let mut out = String::new();
    let mut k = 0;
    while k < changed.len() {
        // Grow the hunk while the next change is within two contexts.
        let start = changed[k].saturating_sub(CONTEXT);
        let mut last = changed[k];
        while k + 1 < changed.len() && changed[k + 1] <= last + 2 * CONTEXT {
            k += 1;
            last = changed[k];
        }
        let end = (last + CONTEXT + 1).min(ops.len());
        let old_before = ops[..start]
            .iter()
            .filter(|(op, _)| *op != Op::Insert)
            .count();
        let new_before = ops[..start]
            .iter()
            .filter(|(op, _)| *op != Op::Delete)
            .count();
        let old_len = ops[start..end]
            .iter()
            .filter(|(op, _)| *op != Op::Insert)
            .count();
        let new_len = ops[start..end]
            .iter()
            .filter(|(op, _)| *op != Op::Delete)
            .count();
        let _ = writeln!(
            out,
            "@@ -{},{old_len} +{},{new_len} @@",
            old_before + usize::from(old_len > 0),
            new_before + usize::from(new_len > 0)
        );
        for (op, line) in &ops[start..end] {
            let sign = match op {
                Op::Equal => ' ',
                Op::Delete => '-',
                Op::Insert => '+',
            };
            let _ = writeln!(out, "{sign}{line}");
        }
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_documents_have_no_diff() {
        let d = diff("a\nb\n", "a\nb\n");
        assert_eq!((d.added, d.removed, d.text.as_str()), (0, 0, ""));
    }

    #[test]
    fn a_changed_line_shows_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n";
        let d = diff(old, new);
        assert_eq!((d.added, d.removed), (1, 1));
        assert_eq!(
            d.text,
            "@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn from_empty_everything_is_added() {
        let d = diff("", "a: 1\nb: 2\n");
        assert_eq!((d.added, d.removed), (2, 0));
        assert_eq!(d.text, "@@ -0,0 +1,2 @@\n+a: 1\n+b: 2\n");
    }

    #[test]
    fn distant_changes_make_two_hunks() {
        let mut lines: Vec<String> = (0..30).map(|i| i.to_string()).collect();
        let old = lines.join("\n");
        lines[3] = "three".into();
        lines.remove(25);
        let d = diff(&old, &lines.join("\n"));
        assert_eq!(d.text.matches("@@ -").count(), 2, "{}", d.text);
        assert_eq!((d.added, d.removed), (1, 2));
    }
}
