-- The order lifecycle's states (awaiting_approval, partially_shipped, received) and cancelled
-- payments.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN ('pending_payment', 'awaiting_approval', 'paid', 'partially_shipped', 'shipped', 'received', 'completed', 'cancelled', 'partially_refunded', 'refunded'));
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN ('pending', 'succeeded', 'failed', 'cancelled'));

-- Orders waiting for a union admin's approval get their own state.
UPDATE orders SET status = 'awaiting_approval'
WHERE status = 'pending_payment' AND id IN (SELECT order_id FROM order_approvals WHERE status = 'pending');
