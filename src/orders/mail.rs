//! The order lifecycle's mail, as a hook: the buyer hears when an order is placed, paid and
//! refunded; each cooperative's managers hear of an order to ship.

use chrono::NaiveDateTime;
use serde::Serialize;

use super::hooks::OrderEvent;
use super::model::{LineRow, OrderRow};
use super::service::{names_for, names_of, Address, Names, Settings};
use crate::db::AnyConnection;
use crate::error::AppError;
use crate::mail;
use crate::money::Money;

#[derive(Serialize)]
struct MailLine {
    product_zh: String,
    product_en: String,
    sku_zh: String,
    sku_en: String,
    quantity: i64,
    line_total: Money,
}

#[derive(Serialize)]
struct OrderMail {
    buyer_name: String,
    order_no: String,
    order_url: String,
    total: Money,
    points_used: i64,
    cash_due: Money,
    lines: Vec<MailLine>,
}

#[derive(Serialize)]
struct ShipMail {
    producer_zh: String,
    producer_en: String,
    order_no: String,
    lines: Vec<MailLine>,
    address: Address,
}

#[derive(Serialize)]
struct RefundMail {
    buyer_name: String,
    order_no: String,
    order_url: String,
    refund_cash: Money,
    refund_points: i64,
    lines: Vec<MailLine>,
}

fn mail_lines(lines: &[LineRow], names: &Names) -> Vec<MailLine> {
    lines
        .iter()
        .map(|l| {
            let [product_zh, product_en, sku_zh, sku_en] = names_for(names, l.sku_id).1.clone();
            MailLine {
                product_zh,
                product_en,
                sku_zh,
                sku_en,
                quantity: l.quantity,
                line_total: Money::from_fen(l.line_total_fen),
            }
        })
        .collect()
}

/// (name, email) of the order's buyer.
fn buyer(conn: &mut AnyConnection, order: &OrderRow) -> Result<(String, String), AppError> {
    let user =
        crate::accounts::model::find(conn, order.buyer_id)?.ok_or_else(|| AppError::internal("order without buyer"))?;
    Ok((user.display_name, user.email))
}

fn order_mail(s: &Settings, order: &OrderRow, buyer_name: String, lines: &[LineRow], names: &Names) -> OrderMail {
    OrderMail {
        buyer_name,
        order_no: order.order_no.clone(),
        order_url: s.order_url(&order.order_no),
        total: Money::from_fen(order.total_fen),
        points_used: order.points_used,
        cash_due: Money::from_fen(order.cash_due_fen),
        lines: mail_lines(lines, names),
    }
}

pub fn on_order(
    conn: &mut AnyConnection,
    s: &Settings,
    event: &OrderEvent,
    now: NaiveDateTime,
) -> Result<(), AppError> {
    match event {
        // An order on an organisation's account is announced by its approval or payment.
        OrderEvent::Placed { order, buyer, lines, names, writes, .. } if order.org_id.is_none() => {
            let context = order_mail(s, order, buyer.display_name.clone(), lines, names);
            writes.write(conn, mail::message("order_placed", &buyer.email, &context, now)?)?;
        }
        OrderEvent::Paid { order, lines } => {
            let names = names_of(conn, lines)?;
            let (name, email) = buyer(conn, order)?;
            mail::enqueue(conn, "payment_received", &email, &order_mail(s, order, name, lines, &names), now)?;
            let address: Address = serde_json::from_str(&order.address).map_err(AppError::internal)?;
            let mut producers: Vec<i64> = lines.iter().map(|l| l.producer_id).collect();
            producers.sort_unstable();
            producers.dedup();
            for (producer_id, producer_zh, producer_en) in crate::catalog::model::producer_names(conn, &producers)? {
                let own: Vec<LineRow> = lines.iter().filter(|l| l.producer_id == producer_id).cloned().collect();
                let context = ShipMail {
                    producer_zh,
                    producer_en,
                    order_no: order.order_no.clone(),
                    lines: mail_lines(&own, &names),
                    address: address.clone(),
                };
                for email in crate::catalog::model::producer_manager_emails(conn, producer_id)? {
                    mail::enqueue(conn, "new_order_to_ship", &email, &context, now)?;
                }
            }
        }
        OrderEvent::Refunded { order, refund } => {
            let lines: Vec<LineRow> =
                refund.lines.iter().map(|r| LineRow { quantity: r.quantity, ..r.line.clone() }).collect();
            let names = names_of(conn, &lines)?;
            let (buyer_name, email) = buyer(conn, order)?;
            let context = RefundMail {
                buyer_name,
                order_no: order.order_no.clone(),
                order_url: s.order_url(&order.order_no),
                refund_cash: Money::from_fen(refund.cash_fen),
                refund_points: refund.points,
                lines: mail_lines(&lines, &names),
            };
            mail::enqueue(conn, "refund", &email, &context, now)?;
        }
        OrderEvent::LatePaymentRefunded { order, amount_fen, .. } => {
            let (buyer_name, email) = buyer(conn, order)?;
            let context = RefundMail {
                buyer_name,
                order_no: order.order_no.clone(),
                order_url: s.order_url(&order.order_no),
                refund_cash: Money::from_fen(*amount_fen),
                refund_points: 0,
                lines: Vec::new(),
            };
            mail::enqueue(conn, "late_payment_refunded", &email, &context, now)?;
        }
        _ => {}
    }
    Ok(())
}
