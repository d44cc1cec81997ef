DROP TABLE addresses;
DROP TABLE cart_items;
