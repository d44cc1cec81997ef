-- One order, many recipients (welfare distribution): each line may name who receives it.
-- Shipping groups an order's lines by (cooperative, recipient).
CREATE TABLE order_recipients (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    name TEXT NOT NULL,
    mobile TEXT NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX order_recipients_order ON order_recipients (order_id);

ALTER TABLE order_lines ADD COLUMN recipient_id BIGINT REFERENCES order_recipients (id);
