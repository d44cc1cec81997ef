-- The new states cannot be expressed in the old schema; going back is not supported.
SELECT 1;
