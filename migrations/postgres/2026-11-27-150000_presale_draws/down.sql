DROP TABLE draw_winners;
DROP TABLE draw_entries;
DROP TABLE draw_prizes;
DROP TABLE draws;
DROP TABLE presale_late_notices;
DROP TABLE sku_presales;
