//! Time arithmetic shared by the back ends: the fixed one-minute windows of
//! the rate limits and the UTC day and calendar-month buckets of the spend
//! limits, with the time left until each ends.
//!
//! Invariants: every function is total (no panic, no overflow) for any
//! `UnixMillis`, including negative ones; buckets are consecutive integers
//! (day `d + 1` follows day `d`, month `m + 1` follows month `m`), which is
//! what the back ends rely on to tell the current bucket from the previous.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::UnixMillis;

/// The length of one fixed rate window.
pub(crate) const WINDOW_MS: i64 = 60_000;

/// The length of one UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The fixed one-minute window `now` falls in.
pub(crate) fn window_of(now: UnixMillis) -> i64 {
    now.div_euclid(WINDOW_MS)
}

/// Milliseconds left in `now`'s window, in `1..=WINDOW_MS`.
pub(crate) fn ms_left_in_window(now: UnixMillis) -> u64 {
    (WINDOW_MS - now.rem_euclid(WINDOW_MS)).unsigned_abs()
}

/// The UTC day `now` falls in, as days since the unix epoch.
pub(crate) fn day_of(now: UnixMillis) -> i64 {
    now.div_euclid(DAY_MS)
}

/// Milliseconds until the next UTC midnight, in `1..=DAY_MS`.
pub(crate) fn ms_to_next_day(now: UnixMillis) -> u64 {
    (DAY_MS - now.rem_euclid(DAY_MS)).unsigned_abs()
}

/// The UTC calendar month `now` falls in, as months since January 1970.
pub(crate) fn month_of(now: UnixMillis) -> i64 {
    let date = utc_date(now);
    let year = i64::from(date.year());
    let month = i64::from(u8::from(date.month()));
    (year - 1970) * 12 + (month - 1)
}

/// Milliseconds until the first instant of the next UTC calendar month (≥ 1).
pub(crate) fn ms_to_next_month(now: UnixMillis) -> u64 {
    let date = utc_date(now);
    let (year, month) = match date.month() {
        Month::December => (date.year().saturating_add(1), Month::January),
        month => (date.year(), month.next()),
    };
    let next_month_ms = Date::from_calendar_date(year, month, 1)
        .map(|first| {
            let seconds = PrimitiveDateTime::new(first, Time::MIDNIGHT)
                .assume_utc()
                .unix_timestamp();
            seconds.saturating_mul(1000)
        })
        .unwrap_or(i64::MAX);
    next_month_ms.saturating_sub(now).max(1).unsigned_abs()
}

/// The UTC date of `now`, clamped to the range the `time` crate represents.
fn utc_date(now: UnixMillis) -> Date {
    let earliest = PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
    let latest = PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
    let seconds = now.div_euclid(1000).clamp(earliest, latest);
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(OffsetDateTime::date)
        .unwrap_or(Date::MIN)
}

/// Rounds milliseconds up to whole seconds, at least 1.
pub(crate) fn ceil_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-02-29T23:59:59.999Z, the last millisecond of a leap-year February.
    const LEAP_FEB_END: UnixMillis = 1_709_251_199_999;

    #[test]
    fn windows_split_at_whole_minutes() {
        assert_eq!(window_of(0), 0);
        assert_eq!(window_of(59_999), 0);
        assert_eq!(window_of(60_000), 1);
        assert_eq!(window_of(-1), -1);
        assert_eq!(ms_left_in_window(0), 60_000);
        assert_eq!(ms_left_in_window(59_999), 1);
        assert_eq!(ms_left_in_window(-1), 1);
    }

    #[test]
    fn days_split_at_utc_midnight() {
        assert_eq!(day_of(DAY_MS - 1), 0);
        assert_eq!(day_of(DAY_MS), 1);
        assert_eq!(ms_to_next_day(DAY_MS - 1), 1);
        assert_eq!(ms_to_next_day(DAY_MS), DAY_MS.unsigned_abs());
    }

    #[test]
    fn months_follow_the_calendar() {
        assert_eq!(month_of(0), 0);
        assert_eq!(month_of(LEAP_FEB_END), (2024 - 1970) * 12 + 1);
        assert_eq!(month_of(LEAP_FEB_END + 1), (2024 - 1970) * 12 + 2);
        assert_eq!(ms_to_next_month(LEAP_FEB_END), 1);
        // From 2024-03-01T00:00Z, March has 31 days.
        assert_eq!(
            ms_to_next_month(LEAP_FEB_END + 1),
            31 * DAY_MS.unsigned_abs()
        );
        // December rolls into January of the next year.
        let last_ms_of_2023 = 1_704_067_199_999;
        assert_eq!(month_of(last_ms_of_2023), (2023 - 1970) * 12 + 11);
        assert_eq!(ms_to_next_month(last_ms_of_2023), 1);
    }

    #[test]
    fn extreme_instants_do_not_panic() {
        for now in [i64::MIN, i64::MAX, -1, 0] {
            let _ = (window_of(now), ms_left_in_window(now), day_of(now));
            let _ = (ms_to_next_day(now), month_of(now), ms_to_next_month(now));
        }
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_seconds(0), 1);
        assert_eq!(ceil_seconds(1), 1);
        assert_eq!(ceil_seconds(1000), 1);
        assert_eq!(ceil_seconds(1001), 2);
    }
}
