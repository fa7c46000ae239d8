// Local stand-in for the product service (SPEC §2), with test controls under /__admin.
import { randomBytes } from "node:crypto";
import { z } from "zod";
import {
  type Context,
  HttpError,
  Router,
  type RunningService,
  readJson,
  type ServiceOptions,
  send,
  sendJson,
  serve,
} from "./http.ts";

// `gone` answers 404, as for a product deleted since it was added to a cart.
const FaultSchema = z.enum(["error", "slow", "lag", "malformed", "garbage", "reset", "gone"]);
export type Fault = z.infer<typeof FaultSchema>;

// `stock` faults every stock change; `release` only increments (so a test can let a reservation
// through and fail the compensation that follows it).
const FaultsSchema = z.strictObject({
  get: FaultSchema.optional(),
  stock: FaultSchema.optional(),
  release: FaultSchema.optional(),
});

// No defaults here so the same shape serves PATCH (merge) and, with required fields, POST.
const ProductFields = z.strictObject({
  name: z.string().min(1),
  price: z.int().nonnegative(),
  currency: z.string().length(3),
  images: z.array(z.string()),
  stock: z.int().nonnegative(),
  sku: z.string().min(1),
  isActive: z.boolean(),
  faults: FaultsSchema,
});
const ProductPatch = ProductFields.partial();
const ProductCreate = ProductPatch.extend({
  id: z.string().min(1).optional(),
  name: z.string().min(1),
  price: z.int().nonnegative(),
  stock: z.int().nonnegative(),
});
const StockChange = z.object({ quantity: z.int() });

export interface Product {
  id: string;
  name: string;
  price: number;
  currency: string;
  images: string[];
  stock: number;
  sku: string;
  isActive: boolean;
  faults: { get?: Fault | undefined; stock?: Fault | undefined; release?: Fault | undefined };
}

/** How long a "slow" fault holds its answer: well past any sane client timeout. */
const SLOW_MS = 10_000;
/** A "lag" answers correctly, but late enough that concurrent callers overlap (well within timeouts). */
const LAG_MS = 400;

function seedCatalog(): Map<string, Product> {
  const seed: Product[] = [
    product("507f1f77bcf86cd799439012", "iPhone 15 Pro", 99999, 100, "IPH15PRO-256", [
      "https://example.com/iphone15pro1.jpg",
    ]),
    product("507f1f77bcf86cd799439013", "Samsung Galaxy S24", 79999, 50, "SGS24-128", [
      "https://example.com/galaxys24.jpg",
    ]),
    product("507f1f77bcf86cd799439014", "AirPods Pro (2nd generation)", 24999, 200, "APP2-USBC", [
      "https://example.com/airpodspro2.jpg",
    ]),
    // Sold out: adds and checkouts must answer "not enough stock".
    product("507f1f77bcf86cd799439015", "Sony WH-1000XM5 Headphones", 39999, 0, "SONY-WH1000XM5", [
      "https://example.com/sonyxm5.jpg",
    ]),
    // Discontinued: exists but must not be sold.
    {
      ...product("507f1f77bcf86cd799439016", "iPhone 12 Mini", 49999, 7, "IPH12MINI-64", [
        "https://example.com/iphone12mini.jpg",
      ]),
      isActive: false,
    },
  ];
  return new Map(seed.map((p) => [p.id, p]));
}

function product(
  id: string,
  name: string,
  price: number,
  stock: number,
  sku: string,
  images: string[],
): Product {
  return { id, name, price, currency: "USD", images, stock, sku, isActive: true, faults: {} };
}

function publicView(p: Product) {
  return {
    _id: p.id,
    name: p.name,
    price: p.price,
    currency: p.currency,
    images: p.images,
    stock: p.stock,
    sku: p.sku,
    isActive: p.isActive,
  };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
  return result.data;
}

/** Plays a fault; returns true when it already answered (or dropped) the request. */
async function playFault(ctx: Context, fault: Fault | undefined): Promise<boolean> {
  switch (fault) {
    case undefined:
      return false;
    case "slow":
      await ctx.delay(SLOW_MS);
      return false;
    case "lag":
      await ctx.delay(LAG_MS);
      return false;
    case "error":
      send(
        ctx.res,
        500,
        "text/html; charset=utf-8",
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
      );
      return true;
    case "gone":
      sendJson(ctx.res, 404, { success: false, message: "Product not found" });
      return true;
    case "malformed":
      sendJson(ctx.res, 200, { success: true, data: { name: 5 } });
      return true;
    case "garbage":
      send(ctx.res, 200, "application/json", "not json{");
      return true;
    case "reset":
      ctx.req.socket.destroy();
      return true;
  }
}

export async function startProductService(opts: ServiceOptions = {}): Promise<RunningService> {
  const catalog = seedCatalog();
  // GET /api/products/{id} calls per product, so tests (and a developer) can see what the cache saves.
  const reads = new Map<string, number>();
  // Every API call per product, when it arrived and when it was answered (ms since the epoch), so a
  // test can see how many of its calls overlapped.
  const calls = new Map<string, { method: string; startedAt: number; endedAt: number | null }[]>();
  const logCall = (ctx: Context) => {
    const call = { method: ctx.req.method ?? "", startedAt: Date.now(), endedAt: null as number | null };
    const id = ctx.params.id ?? "";
    calls.set(id, [...(calls.get(id) ?? []), call]);
    ctx.res.once("close", () => {
      call.endedAt = Date.now();
    });
  };
  // Health checks under /__probe/<tag>, counted per tag: a test's own product-service URL.
  const probes = new Map<string, number>();
  const find = (id: string | undefined): Product => {
    const p = id === undefined ? undefined : catalog.get(id);
    if (!p) throw new HttpError(404, "Product not found");
    return p;
  };

  const router = new Router()
    .on("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" }))
    .on("GET", "/__probe/:tag/health", ({ res, params }) => {
      probes.set(params.tag ?? "", (probes.get(params.tag ?? "") ?? 0) + 1);
      sendJson(res, 200, { status: "ok" });
    })
    .on("GET", "/__admin/probes/:tag", ({ res, params }) =>
      sendJson(res, 200, { count: probes.get(params.tag ?? "") ?? 0 }),
    )
    .on("GET", "/api/products/:id", async (ctx) => {
      const id = ctx.params.id ?? "";
      reads.set(id, (reads.get(id) ?? 0) + 1);
      logCall(ctx);
      if (await playFault(ctx, find(ctx.params.id).faults.get)) return;
      sendJson(ctx.res, 200, { success: true, data: publicView(find(ctx.params.id)) });
    })
    .on("PATCH", "/api/products/:id/stock", async (ctx) => {
      find(ctx.params.id);
      logCall(ctx);
      const { quantity } = parse(StockChange, await readJson(ctx.req));
      const { faults } = find(ctx.params.id);
      if (await playFault(ctx, faults.stock ?? (quantity > 0 ? faults.release : undefined))) return;
      // Look up again after the awaits and apply synchronously: that is what makes it atomic.
      const p = find(ctx.params.id);
      if (p.stock + quantity < 0) throw new HttpError(409, "Insufficient stock");
      p.stock += quantity;
      sendJson(ctx.res, 200, { success: true, data: { id: p.id, sku: p.sku, stock: p.stock } });
    })
    .on("POST", "/__admin/products", async ({ req, res }) => {
      const input = parse(ProductCreate, await readJson(req));
      const id = input.id ?? randomBytes(12).toString("hex");
      const p: Product = {
        id,
        name: input.name,
        price: input.price,
        currency: input.currency ?? "USD",
        images: input.images ?? [],
        stock: input.stock,
        sku: input.sku ?? `SKU-${id.slice(-8).toUpperCase()}`,
        isActive: input.isActive ?? true,
        faults: input.faults ?? {},
      };
      catalog.set(id, p);
      sendJson(res, 201, p);
    })
    .on("GET", "/__admin/products/:id", ({ res, params }) => sendJson(res, 200, find(params.id)))
    .on("GET", "/__admin/products/:id/reads", ({ res, params }) =>
      sendJson(res, 200, { reads: reads.get(params.id ?? "") ?? 0 }),
    )
    .on("GET", "/__admin/products/:id/calls", ({ res, params }) =>
      sendJson(res, 200, { calls: calls.get(params.id ?? "") ?? [] }),
    )
    .on("PATCH", "/__admin/products/:id", async ({ req, res, params }) => {
      find(params.id);
      const patch = parse(ProductPatch, await readJson(req));
      const p = find(params.id);
      Object.assign(p, patch);
      sendJson(res, 200, p);
    });

  return serve(router, opts);
}
