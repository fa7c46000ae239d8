import type { Context } from "hono";

/**
 * Content-Security-Policy for the page this worker serves (/docs; the static /live and /admin get
 * theirs from public/_headers). Its inline <script> and <style> blocks are allowed by their SHA-256
 * alone, so an injected script (a product name, an order note rendered into the page by a bug) cannot
 * run, and nothing can be loaded from elsewhere or sent anywhere but this origin. Hashes are taken
 * once per isolate.
 */
const INLINE_BLOCK = /<(script|style)>([\s\S]*?)<\/\1>/g;

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

export interface PagePolicy {
  /** Extra sources of inline style attributes (Swagger UI sets them from its script). */
  inlineStyleAttributes?: boolean;
  /** Where images may come from besides this origin (Swagger UI draws its icons from data: URLs). */
  dataImages?: boolean;
}

/** The CSP header of a page whose inline blocks are in `html`. */
export async function contentSecurityPolicy(html: string, policy: PagePolicy = {}): Promise<string> {
  const scripts: string[] = [];
  const styles: string[] = [];
  for (const [, tag, body] of html.matchAll(INLINE_BLOCK)) {
    (tag === "script" ? scripts : styles).push(`'sha256-${await sha256Base64(body ?? "")}'`);
  }
  return [
    "default-src 'none'",
    `script-src 'self' ${scripts.join(" ")}`.trim(),
    policy.inlineStyleAttributes
      ? "style-src 'self' 'unsafe-inline'"
      : `style-src 'self' ${styles.join(" ")}`.trim(),
    `img-src 'self'${policy.dataImages ? " data:" : ""}`,
    "font-src 'self'",
    // Same-origin fetches and the live WebSocket ('self' covers ws:/wss: of this host).
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Serves a fixed page with its CSP (computed on first use) and the headers that go with it. */
export function securePage(html: string, policy: PagePolicy = {}) {
  let header: Promise<string> | undefined;
  return async (c: Context) => {
    header ??= contentSecurityPolicy(html, policy);
    c.header("Content-Security-Policy", await header);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    return c.html(html);
  };
}
