ALTER TABLE product_images DROP COLUMN widths;
ALTER TABLE product_images DROP COLUMN width;
