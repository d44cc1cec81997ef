DROP TABLE adoption_update_units;
DROP TABLE adoption_updates;
DROP TABLE adoption_parcels;
DROP TABLE adopted_units;
DROP TABLE adoptions;
DROP TABLE adoption_deliveries;
DROP TABLE adoption_offers;
