import { z } from "zod";
import { ApiError } from "./errors.ts";

/**
 * Keyset cursors are opaque to clients: the last row's (time, id), base64url-encoded JSON, and for a
 * search the `scope` it belongs to (a digest of its filters), so that a cursor sent with other
 * filters is refused rather than silently paging another result. A cursor this API did not issue
 * (for this scope) is a 400 naming the `cursor` parameter.
 */
export function encodeCursor(at: Date, id: string, scope?: string): string {
  return btoa(JSON.stringify(scope === undefined ? [at.toISOString(), id] : [at.toISOString(), id, scope]))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

export function decodeCursor(
  cursor: string,
  idSchema: z.ZodType<string> = z.string().min(1),
  scope?: string,
) {
  try {
    const shape =
      scope === undefined
        ? z.tuple([z.iso.datetime(), idSchema])
        : z.tuple([z.iso.datetime(), idSchema, z.literal(scope)]);
    const [at, id] = shape.parse(JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))));
    return { at: new Date(at), id };
  } catch {
    throw new ApiError("VALIDATION_FAILED", "The cursor is invalid", [
      { path: "cursor", message: "is not a cursor this API issued" },
    ]);
  }
}
