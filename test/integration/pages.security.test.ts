import { describe, expect, it } from "vitest";
import { api } from "../helpers/http.ts";

async function sha256Base64(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/** The CSP directives of a response, by name. */
function directives(header: string | null): Map<string, string[]> {
  return new Map(
    (header ?? "")
      .split(";")
      .map((part) => part.trim().split(/\s+/))
      .filter((words) => words[0])
      .map(([name, ...sources]) => [name as string, sources]),
  );
}

// /live and /admin are static files (public/), served before the worker with the policy of
// public/_headers; test/browser (npm run test:browser) checks theirs in Chromium.
describe("pages: /docs", () => {
  for (const path of ["/docs"]) {
    it(`serves ${path} with a Content-Security-Policy that runs only its own scripts`, async () => {
      const res = await api("GET", path);
      expect(res.status).toBe(200);
      const csp = directives(res.headers.get("content-security-policy"));
      expect(csp.get("default-src")).toEqual(["'none'"]);
      expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
      expect(csp.get("connect-src")).toEqual(["'self'"]);
      const scripts = csp.get("script-src") ?? [];
      expect(scripts).not.toContain("'unsafe-inline'");
      expect(scripts).not.toContain("'unsafe-eval'");
      // Every inline script of the page is allowed by its hash, and nothing else inline is.
      const inline = [...(res.body as string).matchAll(/<script>([\s\S]*?)<\/script>/g)];
      expect(inline.length).toBeGreaterThan(0);
      for (const [, body] of inline) expect(scripts).toContain(`'sha256-${await sha256Base64(body ?? "")}'`);
      expect(scripts.filter((source) => source.startsWith("'sha256-"))).toHaveLength(inline.length);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    });
  }

  it("does not keep the bearer token pasted into /docs in localStorage", async () => {
    const res = await api("GET", "/docs");
    expect(res.body).toMatch(/persistAuthorization:\s*false/);
    expect(res.body).not.toMatch(/persistAuthorization:\s*true/);
  });
});
