//! The console's clock and the time formats operators type.

use crate::error::ApiError;

/// Now, in unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Parses a time given as unix milliseconds or RFC 3339
/// (`2025-01-31T12:00:00Z`).
pub(crate) fn parse_time(field: &str, text: &str) -> Result<i64, ApiError> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .map_err(|_| {
            ApiError::InvalidRequest(format!(
                "{field}: expected unix milliseconds or an RFC 3339 time such as 2025-01-31T12:00:00Z, got {text:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_both_forms() {
        assert_eq!(
            parse_time("since", "1700000000000").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(parse_time("since", "1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(
            parse_time("since", "2023-11-14T22:13:20.5+00:00").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("since", "yesterday").is_err());
        assert!(now_ms() > 1_700_000_000_000);
    }
}
