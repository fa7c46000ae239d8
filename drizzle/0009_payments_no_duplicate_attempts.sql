-- Before payments (order_id, attempt) becomes unique (the next migration): prove that no order has
-- two attempts with one number. If one does, stop here, naming it, rather than fail on the index with
-- a bare unique violation or, worse, pick a row to delete: an operator decides which attempt stands.
DO $$
DECLARE
  duplicates integer;
  example text;
BEGIN
  SELECT count(*), min(order_id::text || ' attempt ' || attempt)
    INTO duplicates, example
    FROM (SELECT order_id, attempt FROM payments GROUP BY order_id, attempt HAVING count(*) > 1) AS twice;
  IF duplicates > 0 THEN
    RAISE EXCEPTION 'payments holds % (order_id, attempt) pairs more than once, e.g. order %; settle them before migrating', duplicates, example;
  END IF;
END
$$;
