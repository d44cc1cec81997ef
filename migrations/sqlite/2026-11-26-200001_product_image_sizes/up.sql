-- The uploaded image's width, and the widths of the JPEG derivatives made from it on upload
-- (`<sha256>-<width>.jpg`, comma-separated, e.g. '320,640'), for `srcset`.
ALTER TABLE product_images ADD COLUMN width INTEGER NOT NULL DEFAULT 0;
ALTER TABLE product_images ADD COLUMN widths TEXT NOT NULL DEFAULT '';
