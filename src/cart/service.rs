//! Cart rules, pure: adding, setting and removing lines, and merging an anonymous cart into
//! the account's. A cart holds at most `MAX_LINES` lines of 1 to `MAX_QUANTITY` each.

use crate::error::AppError;
use crate::orders::pricing::{MAX_LINES, MAX_QUANTITY};

/// (sku_id, quantity), in the order the lines were first added.
pub type Lines = Vec<(i64, i64)>;

pub fn checked_quantity(q: i64) -> Result<i64, AppError> {
    if (1..=MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(AppError::bad_request("invalid_quantity", "quantity must be from 1 to 10000 / 数量须为 1 至 10000"))
    }
}

fn full() -> AppError {
    AppError::bad_request(
        "cart_full",
        format!("a cart holds at most {MAX_LINES} lines / 购物车最多 {MAX_LINES} 种商品"),
    )
}

/// Adds `quantity` to the SKU's line (capped at the most one line may hold), or a new line.
pub fn add(mut lines: Lines, sku_id: i64, quantity: i64) -> Result<Lines, AppError> {
    let quantity = checked_quantity(quantity)?;
    let room = lines.len() < MAX_LINES;
    match lines.iter_mut().find(|l| l.0 == sku_id) {
        Some(line) => line.1 = (line.1 + quantity).min(MAX_QUANTITY),
        None if room => lines.push((sku_id, quantity)),
        None => return Err(full()),
    }
    Ok(lines)
}

/// Sets the SKU's quantity; a SKU not in the cart is added.
pub fn set(mut lines: Lines, sku_id: i64, quantity: i64) -> Result<Lines, AppError> {
    let quantity = checked_quantity(quantity)?;
    let room = lines.len() < MAX_LINES;
    match lines.iter_mut().find(|l| l.0 == sku_id) {
        Some(line) => line.1 = quantity,
        None if room => lines.push((sku_id, quantity)),
        None => return Err(full()),
    }
    Ok(lines)
}

pub fn remove(lines: Lines, sku_id: i64) -> Lines {
    lines.into_iter().filter(|l| l.0 != sku_id).collect()
}

/// The account's cart with the anonymous one merged in: quantities of the same SKU add up
/// (capped), new SKUs follow in their order, and lines past `MAX_LINES` are dropped.
pub fn merge(account: Lines, anonymous: &[(i64, i64)]) -> Lines {
    let mut out = account;
    for &(sku_id, quantity) in anonymous {
        if !(1..=MAX_QUANTITY).contains(&quantity) {
            continue;
        }
        let room = out.len() < MAX_LINES;
        match out.iter_mut().find(|l| l.0 == sku_id) {
            Some(line) => line.1 = (line.1 + quantity).min(MAX_QUANTITY),
            None if room => out.push((sku_id, quantity)),
            None => {}
        }
    }
    out
}

/// Takes the ordered quantities out of the cart (what was added meanwhile stays).
pub fn after_order(lines: Lines, ordered: &[(i64, i64)]) -> Lines {
    lines
        .into_iter()
        .filter_map(|(sku_id, quantity)| {
            let left = quantity - ordered.iter().find(|o| o.0 == sku_id).map_or(0, |o| o.1);
            (left > 0).then_some((sku_id, left))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_up_and_keeps_order() {
        let merged = merge(vec![(1, 2), (2, 1)], &[(2, 3), (3, 1), (4, 0)]);
        assert_eq!(merged, vec![(1, 2), (2, 4), (3, 1)]);
        let capped = merge(vec![(1, MAX_QUANTITY - 1)], &[(1, 5)]);
        assert_eq!(capped, vec![(1, MAX_QUANTITY)]);
        let many: Lines = (0..MAX_LINES as i64).map(|i| (i, 1)).collect();
        assert_eq!(merge(many.clone(), &[(999, 1)]).len(), MAX_LINES);
    }

    #[test]
    fn add_set_remove() {
        let lines = add(Vec::new(), 7, 2).unwrap_or_default();
        let lines = add(lines, 7, 3).unwrap_or_default();
        assert_eq!(lines, vec![(7, 5)]);
        assert_eq!(set(lines.clone(), 7, 1).unwrap_or_default(), vec![(7, 1)]);
        assert!(set(lines.clone(), 7, 0).is_err());
        assert!(add(lines.clone(), 7, MAX_QUANTITY + 1).is_err());
        assert_eq!(remove(lines, 7), Vec::<(i64, i64)>::new());
        let many: Lines = (0..MAX_LINES as i64).map(|i| (i, 1)).collect();
        assert!(add(many, 999, 1).is_err());
    }

    #[test]
    fn an_order_takes_what_it_bought() {
        assert_eq!(after_order(vec![(1, 2), (2, 3)], &[(1, 2), (2, 1)]), vec![(2, 2)]);
    }
}
