//! The order lifecycle's announcements. The order core tells a list of subscribers what
//! happened to an order (placed, paid, cancelled, shipped, received, completed, refunded); what each
//! feature does about it (credit the ledger, draw or give back a budget, send mail, settle
//! with the cooperative) lives in that feature. The list is made in one place
//! (`startup::ORDER_HOOKS`) and handed to the core as data, so the core imports none of them.
//!
//! Hooks run in the caller's transaction, in list order: an error from any of them undoes
//! the whole change. They must take their locks after the order's (see the lock order in
//! ARCHITECTURE.md), which they do by running after the core has locked the order.

use chrono::{NaiveDate, NaiveDateTime};

use super::model::{LineRow, OrderRow};
use super::service::{Buyer, Names, Settings};
use crate::db::{AnyConnection, Deferred};
use crate::error::AppError;

/// One refund as it was written: its id, what went back, and per line the units and value.
pub struct Refund {
    pub id: i64,
    pub cash_fen: i64,
    pub points: i64,
    pub lines: Vec<RefundedLine>,
}

pub struct RefundedLine {
    /// The line as it was before this refund.
    pub line: LineRow,
    pub quantity: i64,
    pub cash_fen: i64,
    pub points: i64,
    /// Cash plus the points' value: what the line's credit is reduced by.
    pub value_fen: i64,
}

pub enum OrderEvent<'a> {
    /// Written, stock taken (status `pending_payment` or `awaiting_approval`; an order paid
    /// at once is then announced `Paid` too).
    Placed {
        order: &'a OrderRow,
        buyer: &'a Buyer,
        lines: &'a [LineRow],
        names: &'a Names,
        delivery_date: Option<NaiveDate>,
        /// Where a hook writes what nothing reads before the order's stock is taken: sent in
        /// one round trip with the order's other last writes on PostgreSQL.
        writes: &'a Deferred,
    },
    Paid {
        order: &'a OrderRow,
        lines: &'a [LineRow],
    },
    /// Cancelled before payment: points are back; stock is put back on the shelf right after
    /// the hooks (units from a reservation, `order.stock_reserved`, go back to their owner
    /// through its hook instead).
    Cancelled {
        order: &'a OrderRow,
    },
    /// A part (a cooperative's goods for one recipient) left; `all` when it was the last.
    Shipped {
        order: &'a OrderRow,
        producer_id: i64,
        recipient_id: Option<i64>,
        all: bool,
    },
    /// Every parcel received (by the buyer, or automatically): the after-sales window opens.
    Received {
        order: &'a OrderRow,
    },
    /// Received, and the after-sales window closed with no case open: what was sold is final
    /// (cooperative settlement hears of it here).
    Completed {
        order: &'a OrderRow,
    },
    /// Units refunded: points and stock are already back.
    Refunded {
        order: &'a OrderRow,
        refund: &'a Refund,
    },
    /// The gateway took money for an order that was no longer waiting for it; it went
    /// straight back. Nothing was sold.
    LatePaymentRefunded {
        order: &'a OrderRow,
        refund_id: i64,
        amount_fen: i64,
    },
}

impl OrderEvent<'_> {
    pub fn order(&self) -> &OrderRow {
        match self {
            OrderEvent::Placed { order, .. }
            | OrderEvent::Paid { order, .. }
            | OrderEvent::Cancelled { order }
            | OrderEvent::Shipped { order, .. }
            | OrderEvent::Received { order }
            | OrderEvent::Completed { order }
            | OrderEvent::Refunded { order, .. }
            | OrderEvent::LatePaymentRefunded { order, .. } => order,
        }
    }
}

pub type Hook = fn(&mut AnyConnection, &Settings, &OrderEvent, NaiveDateTime) -> Result<(), AppError>;

/// The subscribers, by name (for logs), in the order they run.
#[derive(Clone, Copy)]
pub struct Hooks(pub &'static [(&'static str, Hook)]);

impl Hooks {
    pub const NONE: Hooks = Hooks(&[]);

    pub fn announce(
        &self,
        conn: &mut AnyConnection,
        settings: &Settings,
        event: &OrderEvent,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        for (_name, hook) in self.0 {
            hook(conn, settings, event, now)?;
        }
        Ok(())
    }
}
