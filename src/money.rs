//! Money in CNY carried as a decimal with two places, stored as integer fen; points are whole
//! numbers converted at one configured exchange rate. Rounding happens here and nowhere else.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

impl Money {
    pub const ZERO: Money = Money(Decimal::ZERO);

    pub fn from_fen(fen: i64) -> Money {
        Money(Decimal::new(fen, 2))
    }

    /// Rounds to the fen, half to even: the project's one rounding rule.
    pub fn round(amount: Decimal) -> Money {
        Money(amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven))
    }

    pub fn fen(self) -> i64 {
        // Two decimal places by construction, so the mantissa scaled to 2 dp is the fen count.
        let mut d = self.0;
        d.rescale(2);
        i64::try_from(d.mantissa()).unwrap_or(i64::MAX)
    }

    pub fn amount(self) -> Decimal {
        self.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(2);
        write!(f, "{d}")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a yuan amount such as "39.90"; more than two decimals, negatives and junk are refused.
impl FromStr for Money {
    type Err = String;

    fn from_str(s: &str) -> Result<Money, String> {
        let d = Decimal::from_str(s.trim()).map_err(|_| format!("'{s}' is not an amount of money"))?;
        if d.is_sign_negative() {
            return Err(format!("'{s}' is negative"));
        }
        if d.scale() > 2 {
            return Err(format!("'{s}' has more than two decimals"));
        }
        if d > Decimal::from(1_000_000_000_000i64) {
            return Err(format!("'{s}' is too large"));
        }
        Ok(Money(d))
    }
}

/// How many points make one yuan (default 100 points = ¥1.00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRate {
    pub points_per_yuan: i64,
}

impl ExchangeRate {
    pub fn value_of(self, points: i64) -> Money {
        Money::round(Decimal::from(points) / Decimal::from(self.points_per_yuan))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_two_decimals() {
        assert_eq!(Money::from_fen(3990).to_string(), "39.90");
        assert_eq!(Money::from_fen(5).to_string(), "0.05");
        assert_eq!("39.9".parse::<Money>().map(Money::fen), Ok(3990));
        assert_eq!("12".parse::<Money>().map(Money::fen), Ok(1200));
        assert!("1.001".parse::<Money>().is_err());
        assert!("-1".parse::<Money>().is_err());
        assert!("abc".parse::<Money>().is_err());
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(Money::round(Decimal::new(1005, 3)).fen(), 100);
        assert_eq!(Money::round(Decimal::new(1015, 3)).fen(), 102);
        assert_eq!(Money::round(Decimal::new(10051, 4)).fen(), 101);
    }

    #[test]
    fn values_points_at_the_rate() {
        let rate = ExchangeRate { points_per_yuan: 100 };
        assert_eq!(rate.value_of(5000).to_string(), "50.00");
        assert_eq!(rate.value_of(1).to_string(), "0.01");
        let odd = ExchangeRate { points_per_yuan: 30 };
        assert_eq!(odd.value_of(1).to_string(), "0.03");
    }

    #[test]
    fn serializes_as_string() {
        assert_eq!(serde_json::to_string(&Money::from_fen(12345)).ok().as_deref(), Some("\"123.45\""));
    }
}
