ALTER TABLE "stock_releases" DROP CONSTRAINT "stock_releases_order_id_orders_id_fk";
