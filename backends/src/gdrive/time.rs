//! RFC 3339 timestamps, as Drive (`createdTime`, `modifiedTime`) and rclone's token files
//! (`expiry`, written by Go with a UTC offset and nanoseconds) spell them.
//!
//! Written here rather than pulled in from a date crate: ferry needs exactly two conversions,
//! and both are a few lines of calendar arithmetic (days from a civil date, and back).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `2024-05-01T12:34:56Z`, `2024-05-01T12:34:56.789Z` or
/// `2024-05-01T12:34:56.123456789+02:00`. Returns `None` for anything else, and for Go's zero
/// time (`0001-01-01T00:00:00Z`), which rclone writes for "no expiry".
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    if year <= 1 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut nanos = 0u64;
    if let Some((b'.', frac)) = rest.split_first() {
        let len = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return None;
        }
        // Only the first nine digits (nanoseconds) matter.
        for (i, c) in frac[..len].iter().enumerate() {
            if i < 9 {
                nanos = nanos * 10 + u64::from(c - b'0');
            }
        }
        for _ in len..9 {
            nanos *= 10;
        }
        rest = &frac[len..];
    }
    let offset_secs: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2])?;
            let m = digits(&[*m1, *m2])?;
            let secs = (h * 3600 + m * 60) as i64;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month as u32, day as u32);
    // Local time minus the offset is UTC.
    let secs = days * 86_400 + (hour * 3600 + minute * 60 + second) as i64 - offset_secs;
    let since_epoch = Duration::new(secs.unsigned_abs(), nanos as u32);
    if secs >= 0 {
        UNIX_EPOCH.checked_add(since_epoch)
    } else {
        UNIX_EPOCH.checked_sub(since_epoch)
    }
}

/// Formats `time` as UTC with nanoseconds, the way Go's `time.RFC3339Nano` writes it (so rclone
/// reads the token files ferry writes): `2024-05-01T10:34:56.123456789Z`. Times before 1970
/// are written as the epoch (they never occur for tokens).
pub(crate) fn format_rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, in_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        // Go trims trailing zeros of the fraction.
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Counts years from March, so that the
/// leap day is the last day of a counted year, in 400-year eras of 146 097 days.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719 468 days lie between 0000-03-01 and 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn parses_the_forms_drive_and_go_write() {
        let cases = [
            ("1970-01-01T00:00:00Z", at(0, 0)),
            ("2024-02-29T12:00:00.5Z", at(1_709_208_000, 500_000_000)),
            (
                "2024-02-29T14:00:00.5+02:00",
                at(1_709_208_000, 500_000_000),
            ),
            (
                "2024-02-29T11:30:00.5-00:30",
                at(1_709_208_000, 500_000_000),
            ),
            (
                "2001-09-09T01:46:40.123456789Z",
                at(1_000_000_000, 123_456_789),
            ),
            (
                "2001-09-09T01:46:40.1234567891Z",
                at(1_000_000_000, 123_456_789),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse_rfc3339(text), Some(want), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_and_zero_times() {
        for text in [
            "",
            "0001-01-01T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
            "2024-01-01T00:00:00.Z",
            "2024-01-01 00:00:00+0100",
            "2024-01-01T25:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(text), None, "{text}");
        }
    }

    #[test]
    fn format_round_trips_through_parse() {
        for t in [
            at(0, 0),
            at(1_709_208_000, 500_000_000),
            at(4_102_444_800, 1),
            at(951_782_400, 0),
        ] {
            let text = format_rfc3339(t);
            assert_eq!(parse_rfc3339(&text), Some(t), "{text}");
        }
        assert_eq!(
            format_rfc3339(at(1_709_208_000, 500_000_000)),
            "2024-02-29T12:00:00.5Z"
        );
    }
}
