//! Prices and the points/cash split: pure functions, no I/O.
//!
//! A line's unit price is the lowest of the SKU's price, its quantity tier and the campaign's
//! price. Points are capped per line by the SKU's largest points share. The points a buyer
//! spends are spread over the lines in proportion to those caps by largest remainder, so
//! every line's points value + cash = its total, to the fen, and the order is the sum of its lines.

use crate::money::ExchangeRate;

pub const MAX_QUANTITY: i64 = 10_000;
pub const MAX_LINES: usize = 50;

#[derive(Debug, Clone)]
pub struct SkuPrice {
    pub sku_id: i64,
    pub price_fen: i64,
    /// (minimum quantity, unit price in fen)
    pub tiers: Vec<(i64, i64)>,
    pub campaign_price_fen: Option<i64>,
    pub max_points_pct: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub sku_id: i64,
    pub quantity: i64,
    pub unit_price_fen: i64,
    pub line_total_fen: i64,
    pub points: i64,
    pub points_value_fen: i64,
    pub cash_fen: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PricingError {
    InvalidQuantity,
    NegativePoints,
    /// More points than the lines accept; carries the most they accept.
    PointsCapExceeded(i64),
}

pub fn unit_price_fen(sku: &SkuPrice, quantity: i64) -> i64 {
    let tier = sku.tiers.iter().filter(|(min, _)| quantity >= *min).map(|(_, price)| *price).min();
    [Some(sku.price_fen), tier, sku.campaign_price_fen].into_iter().flatten().min().unwrap_or(sku.price_fen)
}

/// The fen value of whole points at the rate, rounded in `Money::round`.
pub fn points_value_fen(points: i64, rate: ExchangeRate) -> i64 {
    rate.value_of(points).fen()
}

/// The most points a line accepts: their value may not exceed its share of the line total.
pub fn points_cap(line_total_fen: i64, max_points_pct: i32, rate: ExchangeRate) -> i64 {
    // value(points) = points * 100 / points_per_yuan fen <= total * pct / 100
    let cap = i128::from(line_total_fen) * i128::from(max_points_pct) * i128::from(rate.points_per_yuan) / 10_000;
    i64::try_from(cap).unwrap_or(i64::MAX)
}

/// The lines with their prices, before points.
pub fn price_lines(items: &[(SkuPrice, i64)]) -> Result<Vec<PricedLine>, PricingError> {
    items
        .iter()
        .map(|(sku, quantity)| {
            if !(1..=MAX_QUANTITY).contains(quantity) {
                return Err(PricingError::InvalidQuantity);
            }
            let unit = unit_price_fen(sku, *quantity);
            let total = unit.checked_mul(*quantity).ok_or(PricingError::InvalidQuantity)?;
            Ok(PricedLine {
                sku_id: sku.sku_id,
                quantity: *quantity,
                unit_price_fen: unit,
                line_total_fen: total,
                points: 0,
                points_value_fen: 0,
                cash_fen: total,
            })
        })
        .collect()
}

/// The most points the whole order accepts.
pub fn order_points_cap(lines: &[PricedLine], pcts: &[i32], rate: ExchangeRate) -> i64 {
    lines.iter().zip(pcts).map(|(l, pct)| points_cap(l.line_total_fen, *pct, rate)).sum()
}

/// Spreads `points` over the lines (largest remainder, ties to the earlier line) and splits
/// each line into points value and cash.
pub fn apply_points(
    mut lines: Vec<PricedLine>,
    pcts: &[i32],
    points: i64,
    rate: ExchangeRate,
) -> Result<Vec<PricedLine>, PricingError> {
    if points < 0 {
        return Err(PricingError::NegativePoints);
    }
    let caps: Vec<i64> = lines.iter().zip(pcts).map(|(l, pct)| points_cap(l.line_total_fen, *pct, rate)).collect();
    let total_cap: i64 = caps.iter().sum();
    if points > total_cap {
        return Err(PricingError::PointsCapExceeded(total_cap));
    }
    if points > 0 {
        let shares: Vec<(i64, i128)> = caps
            .iter()
            .map(|cap| {
                let exact = i128::from(points) * i128::from(*cap);
                let divisor = i128::from(total_cap);
                ((exact / divisor) as i64, exact % divisor)
            })
            .collect();
        let mut leftover = points - shares.iter().map(|(floor, _)| floor).sum::<i64>();
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by(|a, b| shares[*b].1.cmp(&shares[*a].1).then(a.cmp(b)));
        let mut given: Vec<i64> = shares.iter().map(|(floor, _)| *floor).collect();
        for i in order {
            if leftover == 0 {
                break;
            }
            if shares[i].1 > 0 {
                given[i] += 1;
                leftover -= 1;
            }
        }
        for (line, p) in lines.iter_mut().zip(given) {
            line.points = p;
        }
    }
    for line in &mut lines {
        line.points_value_fen = points_value_fen(line.points, rate);
        line.cash_fen = line.line_total_fen - line.points_value_fen;
    }
    Ok(lines)
}

/// The share of a line's points and cash that `quantity` more refunded units carry, so that
/// refunding every unit, in any steps, returns exactly what was paid.
pub fn refund_share(total: i64, quantity: i64, refunded_before: i64, refunding: i64) -> i64 {
    let upto = |q: i64| (i128::from(total) * i128::from(q) / i128::from(quantity.max(1))) as i64;
    upto(refunded_before + refunding) - upto(refunded_before)
}

/// What a line paid, by tender, and what it has given back so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinePaid {
    pub quantity: i64,
    pub cash_fen: i64,
    pub points: i64,
    pub points_value_fen: i64,
    pub refunded_quantity: i64,
    pub refunded_cash_fen: i64,
    pub refunded_points: i64,
    pub refunded_pv_fen: i64,
}

/// One refund's part of a line: cash, points and the points' value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    pub cash_fen: i64,
    pub points: i64,
    pub pv_fen: i64,
}

impl Share {
    /// Cash plus the points' value: what the line's credit goes down by.
    pub fn value_fen(&self) -> i64 {
        self.cash_fen + self.pv_fen
    }
}

impl LinePaid {
    pub fn value_fen(&self) -> i64 {
        self.cash_fen + self.points_value_fen
    }

    /// The value not yet given back.
    pub fn remaining_fen(&self) -> i64 {
        self.value_fen() - self.refunded_cash_fen - self.refunded_pv_fen
    }

    /// True when everything paid for the line has gone back (by units or by amount).
    pub fn fully_refunded(&self) -> bool {
        self.refunded_quantity == self.quantity || self.remaining_fen() <= 0
    }

    /// Whether every refund so far was of whole units, so the unit shares apply as they were.
    fn by_units_so_far(&self) -> bool {
        let upto = |total: i64| refund_share(total, self.quantity, 0, self.refunded_quantity);
        self.refunded_cash_fen == upto(self.cash_fen)
            && self.refunded_points == upto(self.points)
            && self.refunded_pv_fen == upto(self.points_value_fen)
    }

    /// The share that `q` more units carry. While only whole units were refunded, each tender
    /// is split by units (`refund_share`); after a refund by amount, the units carry their part
    /// of the value left. The last units carry everything left.
    pub fn share_of_units(&self, q: i64) -> Share {
        let left_units = self.quantity - self.refunded_quantity;
        if q <= 0 || left_units <= 0 {
            return Share::default();
        }
        let q = q.min(left_units);
        if self.by_units_so_far() {
            let share = |total: i64| refund_share(total, self.quantity, self.refunded_quantity, q);
            return Share {
                cash_fen: share(self.cash_fen),
                points: share(self.points),
                pv_fen: share(self.points_value_fen),
            };
        }
        let left = self.remaining_fen().max(0);
        let value =
            if q == left_units { left } else { (i128::from(left) * i128::from(q) / i128::from(left_units)) as i64 };
        self.share_of_value(value)
    }

    /// The share of an amount of value (cash plus points' value), split in proportion to what
    /// was paid in each tender, exactly `amount` (capped at what is left). The cash is rounded
    /// down, the points' value takes the rest, and the points follow their value, so that the
    /// line never gives back more than it took, in any sequence of refunds.
    pub fn share_of_value(&self, amount: i64) -> Share {
        let amount = amount.clamp(0, self.remaining_fen().max(0));
        if amount == 0 {
            return Share::default();
        }
        let total = self.value_fen().max(1);
        let target = self.refunded_cash_fen + self.refunded_pv_fen + amount;
        let cash_upto = (i128::from(self.cash_fen) * i128::from(target) / i128::from(total)) as i64;
        let mut cash =
            (cash_upto - self.refunded_cash_fen).clamp(0, self.cash_fen - self.refunded_cash_fen).min(amount);
        let mut pv = amount - cash;
        let pv_left = self.points_value_fen - self.refunded_pv_fen;
        if pv > pv_left {
            pv = pv_left;
            cash = amount - pv;
        }
        let pv_after = self.refunded_pv_fen + pv;
        let points_upto = if pv_after >= self.points_value_fen {
            self.points
        } else {
            (i128::from(self.points) * i128::from(pv_after) / i128::from(self.points_value_fen.max(1))) as i64
        };
        let points = (points_upto - self.refunded_points).clamp(0, self.points - self.refunded_points);
        Share { cash_fen: cash, points, pv_fen: pv }
    }

    /// The line after a refund of `units` units carrying `share`.
    pub fn after(&self, units: i64, share: Share) -> LinePaid {
        LinePaid {
            refunded_quantity: self.refunded_quantity + units,
            refunded_cash_fen: self.refunded_cash_fen + share.cash_fen,
            refunded_points: self.refunded_points + share.points,
            refunded_pv_fen: self.refunded_pv_fen + share.pv_fen,
            ..*self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: ExchangeRate = ExchangeRate { points_per_yuan: 100 };

    fn sku(id: i64, price: i64, pct: i32) -> SkuPrice {
        SkuPrice {
            sku_id: id,
            price_fen: price,
            tiers: vec![(10, price - 300), (50, price - 500)],
            campaign_price_fen: None,
            max_points_pct: pct,
        }
    }

    #[test]
    fn unit_price_takes_the_lowest_applicable() {
        let mut s = sku(1, 3990, 50);
        assert_eq!(unit_price_fen(&s, 1), 3990);
        assert_eq!(unit_price_fen(&s, 10), 3690);
        assert_eq!(unit_price_fen(&s, 60), 3490);
        s.campaign_price_fen = Some(3500);
        assert_eq!(unit_price_fen(&s, 1), 3500);
        assert_eq!(unit_price_fen(&s, 60), 3490);
    }

    #[test]
    fn spreads_points_by_largest_remainder() {
        let lines =
            price_lines(&[(sku(1, 1000, 50), 1), (sku(2, 1000, 50), 1), (sku(3, 1000, 50), 1)]).unwrap_or_default();
        let out = apply_points(lines, &[50, 50, 50], 100, RATE).unwrap_or_default();
        assert_eq!(out.iter().map(|l| l.points).collect::<Vec<_>>(), vec![34, 33, 33]);
        assert!(out.iter().all(|l| l.points_value_fen + l.cash_fen == l.line_total_fen));
    }

    #[test]
    fn refuses_more_points_than_the_caps_allow() {
        let lines = price_lines(&[(sku(1, 1000, 50), 1)]).unwrap_or_default();
        assert_eq!(apply_points(lines.clone(), &[50], 501, RATE), Err(PricingError::PointsCapExceeded(500)));
        assert_eq!(apply_points(lines, &[50], -1, RATE), Err(PricingError::NegativePoints));
        assert_eq!(price_lines(&[(sku(1, 1000, 50), 0)]), Err(PricingError::InvalidQuantity));
        assert_eq!(price_lines(&[(sku(1, 1000, 50), MAX_QUANTITY + 1)]), Err(PricingError::InvalidQuantity));
    }

    #[test]
    fn refund_shares_add_up_exactly() {
        let (total, qty) = (1001, 3);
        let parts: Vec<i64> = (0..3).map(|before| refund_share(total, qty, before, 1)).collect();
        assert_eq!(parts.iter().sum::<i64>(), total);
        assert_eq!(refund_share(total, qty, 0, 2) + refund_share(total, qty, 2, 1), total);
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        fn carts() -> impl Strategy<Value = (Vec<(SkuPrice, i64)>, Vec<i32>)> {
            prop::collection::vec(
                (1i64..100_000, 0i32..=100, 1i64..200, prop::option::of(1i64..100_000), any::<bool>()),
                1..8,
            )
            .prop_map(|items| {
                let mut pcts = Vec::new();
                let lines = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, (price, pct, qty, campaign, tiered))| {
                        pcts.push(pct);
                        let tiers = if tiered {
                            vec![(10, (price * 9 / 10).max(1)), (50, (price * 8 / 10).max(1))]
                        } else {
                            vec![]
                        };
                        (
                            SkuPrice {
                                sku_id: i as i64,
                                price_fen: price,
                                tiers,
                                campaign_price_fen: campaign,
                                max_points_pct: pct,
                            },
                            qty,
                        )
                    })
                    .collect();
                (lines, pcts)
            })
        }

        proptest! {
            /// Invariant 3: for every line, points value + cash = line total, to the fen; the
            /// points spread add up to what was asked; no line goes past its cap or below zero.
            #[test]
            fn points_plus_cash_is_the_line_total((items, pcts) in carts(), share in 0.0f64..=1.0, ppy in prop::sample::select(vec![1i64, 3, 30, 100, 250, 1000])) {
                let rate = ExchangeRate { points_per_yuan: ppy };
                let lines = price_lines(&items).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                let cap = order_points_cap(&lines, &pcts, rate);
                let points = (cap as f64 * share).floor() as i64;
                let out = apply_points(lines.clone(), &pcts, points, rate).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                prop_assert_eq!(out.iter().map(|l| l.points).sum::<i64>(), points);
                for ((line, pct), before) in out.iter().zip(&pcts).zip(&lines) {
                    prop_assert_eq!(line.points_value_fen + line.cash_fen, line.line_total_fen);
                    prop_assert_eq!(line.line_total_fen, before.line_total_fen);
                    prop_assert!(line.cash_fen >= 0 && line.points >= 0);
                    prop_assert!(line.points <= points_cap(line.line_total_fen, *pct, rate));
                    prop_assert_eq!(line.unit_price_fen * line.quantity, line.line_total_fen);
                }
                prop_assert_eq!(apply_points(lines, &pcts, cap + 1, rate), Err(PricingError::PointsCapExceeded(cap)));
            }

            /// Any sequence of refunds of a line, by units and by amount, never gives back more
            /// cash, points or value than was paid; a refund by amount gives back exactly that
            /// amount (while any is left); refunding what is left returns every fen and point.
            #[test]
            fn mixed_refunds_never_pass_what_was_paid(
                unit in 1i64..50_000, quantity in 1i64..60, pct in 0i64..=100,
                steps in prop::collection::vec((any::<bool>(), 0i64..100_000), 0..12),
            ) {
                let total = unit * quantity;
                let pv = total * pct / 100;
                let mut line = LinePaid {
                    quantity, cash_fen: total - pv, points: pv, points_value_fen: pv,
                    refunded_quantity: 0, refunded_cash_fen: 0, refunded_points: 0, refunded_pv_fen: 0,
                };
                for (by_units, n) in steps {
                    let before = line.remaining_fen();
                    let (units, share) = if by_units {
                        let q = n % (quantity - line.refunded_quantity + 1);
                        (q, line.share_of_units(q))
                    } else {
                        (0, line.share_of_value(n % (total + 1)))
                    };
                    if !by_units {
                        prop_assert_eq!(share.value_fen(), (n % (total + 1)).min(before));
                    }
                    prop_assert!(share.cash_fen >= 0 && share.points >= 0 && share.pv_fen >= 0);
                    line = line.after(units, share);
                    prop_assert!(line.refunded_cash_fen <= line.cash_fen);
                    prop_assert!(line.refunded_points <= line.points);
                    prop_assert!(line.refunded_pv_fen <= line.points_value_fen);
                    prop_assert!(line.refunded_quantity <= line.quantity);
                }
                let rest = line.quantity - line.refunded_quantity;
                let last = if rest > 0 { line.share_of_units(rest) } else { line.share_of_value(line.remaining_fen()) };
                line = line.after(rest, last);
                prop_assert_eq!((line.refunded_cash_fen, line.refunded_points, line.refunded_pv_fen), (line.cash_fen, line.points, line.points_value_fen));
            }

            /// Refunding every unit in any steps returns exactly the line's points and cash.
            #[test]
            fn refunds_in_steps_add_up(total in 0i64..10_000_000, quantity in 1i64..500, cut in 0.0f64..1.0) {
                let first = ((quantity as f64) * cut).floor() as i64;
                let a = refund_share(total, quantity, 0, first);
                let b = refund_share(total, quantity, first, quantity - first);
                prop_assert_eq!(a + b, total);
                prop_assert!(a >= 0 && b >= 0);
            }
        }
    }
}
