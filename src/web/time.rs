//! Times are stored in UTC and shown in the configured zone (`AIDMART_TIMEZONE`, default
//! Asia/Shanghai) as `2026-11-26 23:34`: in handlers with [`local`], in templates with
//! `{{time value}}`, which reads the ISO form a `NaiveDateTime` is serialised to.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use handlebars::{Context, Handlebars, Helper, HelperDef, HelperResult, Output, RenderContext, RenderErrorReason};

pub const DEFAULT_ZONE: Tz = chrono_tz::Asia::Shanghai;

/// A UTC time as the configured zone's wall clock, to the minute.
pub fn local(zone: Tz, utc: NaiveDateTime) -> String {
    zone.from_utc_datetime(&utc).format("%Y-%m-%d %H:%M").to_string()
}

/// A UTC time as the configured zone's wall clock, to the second.
pub fn local_seconds(zone: Tz, utc: NaiveDateTime) -> String {
    zone.from_utc_datetime(&utc).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The zone's calendar date at a UTC instant (what "today" is for the people using the site).
pub fn local_date(zone: Tz, utc: NaiveDateTime) -> NaiveDate {
    zone.from_utc_datetime(&utc).date_naive()
}

/// Reads a time as serde writes a `NaiveDateTime` (`2026-11-26T15:34:13.667924826`), or as
/// `2026-11-26 15:34[:13]`; a trailing `Z` is accepted.
pub fn parse_utc(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim().trim_end_matches('Z').trim_end_matches(" UTC");
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
}

/// `{{time value}}`: a UTC time in the configured zone; an empty or missing value prints nothing,
/// a date without a time is printed as it is.
pub struct TimeHelper(pub Tz);

impl HelperDef for TimeHelper {
    fn call<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
        out: &mut dyn Output,
    ) -> HelperResult {
        let value = h.param(0).map(|p| p.value()).ok_or(RenderErrorReason::ParamNotFoundForIndex("time", 0))?;
        let text = match value {
            serde_json::Value::String(s) => s.as_str(),
            serde_json::Value::Null => "",
            _ => return Err(RenderErrorReason::Other("time: not a time".into()).into()),
        };
        if text.is_empty() {
            return Ok(());
        }
        let shown = match parse_utc(text) {
            Some(utc) => local(self.0, utc),
            None if NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok() => text.to_string(),
            None => return Err(RenderErrorReason::Other(format!("time: cannot read '{text}'")).into()),
        };
        out.write(&handlebars::html_escape(&shown))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_is_eight_hours_ahead() {
        let utc = parse_utc("2026-11-26T15:34:13.667924826");
        assert_eq!(utc.map(|t| local(DEFAULT_ZONE, t)), Some("2026-11-26 23:34".to_string()));
        let late = parse_utc("2026-11-26 16:05");
        assert_eq!(late.map(|t| local_date(DEFAULT_ZONE, t).to_string()), Some("2026-11-27".to_string()));
        assert_eq!(parse_utc("yesterday"), None);
    }

    #[test]
    fn other_zones_follow_their_rules() {
        let utc = parse_utc("2026-07-01T12:00:00");
        assert_eq!(utc.map(|t| local(chrono_tz::Europe::Berlin, t)), Some("2026-07-01 14:00".to_string()));
        assert_eq!(utc.map(|t| local(chrono_tz::UTC, t)), Some("2026-07-01 12:00".to_string()));
    }
}
