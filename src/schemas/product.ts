import { z } from "@hono/zod-openapi";

/** A product as the product service describes it (SPEC §2); `_id` or `id` names it. */
export const UpstreamProductSchema = z
  .object({
    _id: z.string().min(1).optional(),
    id: z.string().min(1).optional(),
    name: z.string().min(1),
    price: z.number().int().nonnegative(),
    currency: z
      .string()
      .regex(/^[A-Za-z]{3}$/)
      .transform((code) => code.toUpperCase()),
    images: z.array(z.string()).default([]),
    stock: z.number().int(),
    sku: z.string().optional(),
    isActive: z.boolean().default(true),
  })
  .refine((product) => product._id ?? product.id, "product has no id")
  .transform(({ _id, id, images, ...rest }) => ({
    ...rest,
    id: (_id ?? id) as string,
    image: images[0] ?? null,
  }));

export type Product = z.infer<typeof UpstreamProductSchema>;

export const ProductResponseSchema = z.object({ success: z.literal(true), data: UpstreamProductSchema });

/** Product ids are opaque to us, but they travel in URL paths, so keep them to a safe alphabet. */
export const ProductId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, "must be a product id (letters, digits, '-' or '_')");
