//! Calendar arithmetic on the proleptic Gregorian calendar (Howard Hinnant's days-from-civil
//! algorithms): days from a civil date and back, month lengths, weekdays, ISO weeks, and
//! [`Parts`], the fields of a local time in milliseconds. Pure functions of integers; the
//! operators in the sibling modules build on them.

use super::{MILLIS_PER_DAY, MILLIS_PER_HOUR, MILLIS_PER_MINUTE, MILLIS_PER_SECOND};

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1-12).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // Saturating: callers pass years far beyond what a date can hold only to learn it overflows.
    era.saturating_mul(146_097)
        .saturating_add(doe)
        .saturating_sub(719_468)
}

/// The (year, month 1-12, day 1-31) of a day number.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub(super) fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(super) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap_year(year) => 29,
        _ => 28,
    }
}

/// Day of the week with Monday = 0 .. Sunday = 6.
pub(super) fn weekday_monday0(days: i64) -> i64 {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7)
}

/// The Monday starting ISO week 1 of an ISO week-year.
pub(super) fn iso_week1_monday(iso_year: i64) -> i64 {
    let jan4 = days_from_civil(iso_year, 1, 4);
    jan4 - weekday_monday0(jan4)
}

/// A date and time broken into calendar fields (in some time zone).
#[derive(Debug, Clone, Copy)]
pub(super) struct Parts {
    pub(super) days: i64,
    pub(super) year: i64,
    pub(super) month: i64,
    pub(super) day: i64,
    pub(super) hour: i64,
    pub(super) minute: i64,
    pub(super) second: i64,
    pub(super) millisecond: i64,
}

impl Parts {
    pub(super) fn of(local_millis: i64) -> Parts {
        let days = local_millis.div_euclid(MILLIS_PER_DAY);
        let in_day = local_millis.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        Parts {
            days,
            year,
            month,
            day,
            hour: in_day / MILLIS_PER_HOUR,
            minute: in_day % MILLIS_PER_HOUR / MILLIS_PER_MINUTE,
            second: in_day % MILLIS_PER_MINUTE / MILLIS_PER_SECOND,
            millisecond: in_day % MILLIS_PER_SECOND,
        }
    }

    /// 1 (January 1st) to 366.
    pub(super) fn day_of_year(&self) -> i64 {
        self.days - days_from_civil(self.year, 1, 1) + 1
    }

    /// 1 (Sunday) to 7 (Saturday).
    pub(super) fn day_of_week(&self) -> i64 {
        (weekday_monday0(self.days) + 1) % 7 + 1
    }

    /// 1 (Monday) to 7 (Sunday).
    pub(super) fn iso_day_of_week(&self) -> i64 {
        weekday_monday0(self.days) + 1
    }

    /// Week of the year starting on Sundays, 0 before the first Sunday (strftime's %U).
    pub(super) fn week(&self) -> i64 {
        let sunday0 = self.day_of_week() - 1;
        (self.day_of_year() - 1 + 7 - sunday0) / 7
    }

    pub(super) fn iso_week_year(&self) -> i64 {
        let next = iso_week1_monday(self.year + 1);
        if self.days >= next {
            return self.year + 1;
        }
        if self.days < iso_week1_monday(self.year) {
            return self.year - 1;
        }
        self.year
    }

    pub(super) fn iso_week(&self) -> i64 {
        (self.days - iso_week1_monday(self.iso_week_year())) / 7 + 1
    }
}
