import { z } from "zod";
import { ApiError } from "./errors.ts";

/**
 * Keyset cursors are opaque to clients: the last row's (time, id), base64url-encoded JSON. A cursor
 * this API did not issue is a 400 naming the `cursor` parameter.
 */
export function encodeCursor(at: Date, id: string): string {
  return btoa(JSON.stringify([at.toISOString(), id]))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");
}

export function decodeCursor(cursor: string, idSchema: z.ZodType<string> = z.string().min(1)) {
  try {
    const [at, id] = z
      .tuple([z.iso.datetime(), idSchema])
      .parse(JSON.parse(atob(cursor.replace(/-/g, "+").replace(/_/g, "/"))));
    return { at: new Date(at), id };
  } catch {
    throw new ApiError("VALIDATION_FAILED", "The cursor is invalid", [
      { path: "cursor", message: "is not a cursor this API issued" },
    ]);
  }
}
