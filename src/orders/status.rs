//! The words of the order lifecycle as types: order states and the one table of the moves
//! between them, channels, reporting categories and payment states. The database stores
//! their `as_str()` spelling, which is also the API's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;

/// Where an order is in its life. `PendingPayment` and `AwaitingApproval` hold stock (and
/// budget) until paid or cancelled; from `Paid` on, the goods are the buyer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    AwaitingApproval,
    Paid,
    PartiallyShipped,
    Shipped,
    /// Every parcel received (确认收货 / 验收).
    Received,
    /// Received, and the after-sales window closed.
    Completed,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

use OrderStatus::*;

impl OrderStatus {
    pub const ALL: [OrderStatus; 10] = [
        PendingPayment,
        AwaitingApproval,
        Paid,
        PartiallyShipped,
        Shipped,
        Received,
        Completed,
        Cancelled,
        PartiallyRefunded,
        Refunded,
    ];
    /// Not yet paid: stock (and an organisation's budget) is held for them.
    pub const UNPAID: [OrderStatus; 2] = [PendingPayment, AwaitingApproval];
    /// Paid, with goods still to ship.
    pub const SHIPPABLE: [OrderStatus; 3] = [Paid, PartiallyShipped, PartiallyRefunded];
    /// Paid and not wholly refunded: a refund may still be asked for.
    pub const REFUNDABLE: [OrderStatus; 6] = [Paid, PartiallyShipped, Shipped, Received, Completed, PartiallyRefunded];

    pub fn as_str(self) -> &'static str {
        match self {
            PendingPayment => "pending_payment",
            AwaitingApproval => "awaiting_approval",
            Paid => "paid",
            PartiallyShipped => "partially_shipped",
            Shipped => "shipped",
            Received => "received",
            Completed => "completed",
            Cancelled => "cancelled",
            PartiallyRefunded => "partially_refunded",
            Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Result<OrderStatus, AppError> {
        OrderStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| AppError::internal(format!("unknown order status {s:?}")))
    }

    /// The transition table: every move an order may make. Anything else is a bug or a race
    /// lost, and is refused naming both states.
    pub fn can_become(self, to: OrderStatus) -> bool {
        match self {
            PendingPayment | AwaitingApproval => matches!(to, Paid | Cancelled),
            Paid => matches!(to, PartiallyShipped | Shipped | PartiallyRefunded | Refunded),
            PartiallyShipped => matches!(to, Shipped | PartiallyRefunded | Refunded),
            Shipped => matches!(to, Received | PartiallyRefunded | Refunded),
            Received => matches!(to, Completed | PartiallyRefunded | Refunded),
            Completed => matches!(to, PartiallyRefunded | Refunded),
            PartiallyRefunded => matches!(to, PartiallyShipped | Shipped | Received | Completed | Refunded),
            Cancelled | Refunded => false,
        }
    }

    pub fn is_unpaid(self) -> bool {
        OrderStatus::UNPAID.contains(&self)
    }

    pub fn strs(list: &[OrderStatus]) -> Vec<&'static str> {
        list.iter().map(|s| s.as_str()).collect()
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a move the transition table does not allow.
pub fn illegal(from: OrderStatus, to: OrderStatus) -> AppError {
    AppError::conflict(
        "invalid_state",
        format!("an order cannot go from {from} to {to} / 订单状态不允许此操作（{from} → {to}）"),
    )
}

/// Who an order was sold through, for the credit ledger's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Public,
    Employee,
    Union,
    Canteen,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Public => "public",
            Channel::Employee => "employee",
            Channel::Union => "union",
            Channel::Canteen => "canteen",
        }
    }
}

/// The employer's reporting figure an order counts toward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// 直接采购: bought with the organisation's own money.
    DirectPurchase,
    /// 帮助销售: bought by individuals through the organisation's channels.
    HelpedSales,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::DirectPurchase => "direct_purchase",
            Category::HelpedSales => "helped_sales",
        }
    }
}

/// A gateway payment's state. `Cancelled` is a payment whose order was cancelled before the
/// gateway answered: if the buyer still pays, the money is refunded at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    Pending,
    Succeeded,
    Failed,
    Cancelled,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Cancelled => "cancelled",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert!(OrderStatus::parse("delivered").is_err());
    }

    #[test]
    fn the_table_has_no_way_back_to_unpaid_and_no_way_out_of_the_ends() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::UNPAID {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
            assert!(!Cancelled.can_become(from) && !Refunded.can_become(from));
        }
        assert!(AwaitingApproval.can_become(Paid));
        assert!(!Paid.can_become(Cancelled), "a paid order is refunded, not cancelled");
        assert!(illegal(Paid, Cancelled).to_string().contains("paid to cancelled"));
    }
}
