//! Geometry of the dashboards' server-rendered SVG charts. The numbers are computed here, so the
//! templates only place rectangles and text.

use serde::Serialize;

use crate::money::Money;

/// Horizontal bars, each under its label with the amount at its end; 360 units wide, so the
/// text stays legible on a phone.
const BAR_MAX: i64 = 260;
const ROW: i64 = 44;

#[derive(Debug, Clone, Serialize)]
pub struct Bar {
    pub name_zh: String,
    pub name_en: String,
    pub amount: Money,
    pub y: i64,
    pub text_y: i64,
    pub amount_y: i64,
    pub width: i64,
    pub amount_x: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BarChart {
    pub height: i64,
    pub bars: Vec<Bar>,
}

/// Bars for (zh, en, fen) groups, largest first, scaled to the largest.
pub fn bars(mut groups: Vec<(String, String, i64)>) -> BarChart {
    groups.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let max = groups.iter().map(|g| g.2).max().unwrap_or(0).max(1);
    let bars = groups
        .into_iter()
        .enumerate()
        .map(|(i, (name_zh, name_en, fen))| {
            let y = i as i64 * ROW;
            let width = (fen.max(0) * BAR_MAX / max).max(if fen > 0 { 1 } else { 0 });
            Bar {
                name_zh,
                name_en,
                amount: Money::from_fen(fen),
                text_y: y + 14,
                y: y + 20,
                amount_y: y + 32,
                width,
                amount_x: width + 6,
            }
        })
        .collect::<Vec<_>>();
    BarChart { height: (bars.len() as i64 * ROW).max(ROW), bars }
}

/// Vertical columns over time (one per month), scaled to the largest.
const COLUMN_MAX: i64 = 160;

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub label: String,
    pub amount: Money,
    pub x: i64,
    pub label_x: i64,
    pub y: i64,
    pub height: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnChart {
    pub width: i64,
    pub columns: Vec<Column>,
}

pub fn columns(points: Vec<(String, i64)>) -> ColumnChart {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let step = 56;
    let columns = points
        .into_iter()
        .enumerate()
        .map(|(i, (label, fen))| {
            let height = (fen.max(0) * COLUMN_MAX / max).max(if fen > 0 { 1 } else { 0 });
            let x = 10 + i as i64 * step;
            Column { label, amount: Money::from_fen(fen), x, label_x: x + 20, y: 20 + COLUMN_MAX - height, height }
        })
        .collect::<Vec<_>>();
    ColumnChart { width: (20 + columns.len() as i64 * step).max(360), columns }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_sort() {
        let chart =
            bars(vec![("乙".into(), "B".into(), 500), ("甲".into(), "A".into(), 1000), ("丙".into(), "C".into(), 1)]);
        let widths: Vec<i64> = chart.bars.iter().map(|b| b.width).collect();
        assert_eq!(widths, vec![260, 130, 1]);
        assert_eq!(chart.bars[0].name_en, "A");
        assert_eq!(chart.height, 132);
    }

    #[test]
    fn columns_grow_upwards_from_one_baseline() {
        let chart = columns(vec![("2026-10".into(), 200), ("2026-11".into(), 400)]);
        assert_eq!(chart.columns[1].height, 160);
        assert_eq!(chart.columns[0].height, 80);
        assert_eq!(chart.columns[0].y + chart.columns[0].height, chart.columns[1].y + chart.columns[1].height);
    }
}
