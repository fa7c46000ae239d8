-- A statement of a batched (non-interactive) transaction that must abort the batch calls this: the
-- whole batch rolls back, and the error (SQLSTATE OS409) carries an API error code as its message and
-- the API's explanation as its detail, which the worker answers as is (src/db/client.ts).
CREATE OR REPLACE FUNCTION order_service_refuse(code text, explanation text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'OS409', MESSAGE = code, DETAIL = explanation;
END
$$;
