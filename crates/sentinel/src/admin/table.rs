//! Human-readable output: aligned tables and field lists, and times shown
//! in UTC.

use std::fmt::Write as _;

use serde_json::Value;

/// Columns aligned by the widest cell; the last column is not padded.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate().take(columns) {
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `name: value` lines with the values aligned.
pub(crate) fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len() + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (name, value) in pairs {
        let _ = writeln!(out, "{:<width$} {value}", format!("{name}:"), width = width);
    }
    out
}

/// A field as text: strings as they are, numbers and booleans printed,
/// `-` for null or missing.
pub(crate) fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

/// A unix-milliseconds field as `YYYY-MM-DD HH:MM:SSZ`, `-` when absent.
pub(crate) fn time(value: &Value, field: &str) -> String {
    value[field]
        .as_i64()
        .map_or_else(|| "-".to_owned(), format_ms)
}

/// Formats unix milliseconds as a UTC time.
pub(crate) fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(0),
        u32::try_from(d).unwrap_or(0),
    )
}

/// The data array of a list answer.
pub(crate) fn items(value: &Value) -> &[Value] {
    value["data"].as_array().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns() {
        let mut table = Table::new(&["NAME", "PROTECTED", "HOSTS"]);
        table.row(vec!["dev".into(), "no".into(), "-".into()]);
        table.row(vec![
            "production".into(),
            "yes".into(),
            "api.example.com".into(),
        ]);
        assert_eq!(
            table.render(),
            "NAME        PROTECTED  HOSTS\n\
             dev         no         -\n\
             production  yes        api.example.com\n"
        );
    }

    #[test]
    fn times_are_utc() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_ms(1_700_000_000_500), "2023-11-14 22:13:20Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(time(&json!({"t": null}), "t"), "-");
    }

    #[test]
    fn fields_show_dashes_for_nothing() {
        let v =
            json!({"a": "x", "b": null, "c": [], "d": ["h1", "h2"], "e": 3, "f": true, "g": ""});
        let got: Vec<String> = ["a", "b", "c", "d", "e", "f", "g", "missing"]
            .iter()
            .map(|f| text(&v, f))
            .collect();
        assert_eq!(got, ["x", "-", "-", "h1,h2", "3", "true", "-", "-"]);
        assert_eq!(
            fields(&[("id", "1".into()), ("name", "n".into())]),
            "id:   1\nname: n\n"
        );
    }
}
