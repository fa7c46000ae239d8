import type { Hono } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { securePage } from "./csp.ts";

/**
 * Swagger UI for /openapi.json. Its script and stylesheet are static assets of this worker
 * (public/docs-assets, copied from swagger-ui-dist at install), so the page needs no internet.
 * A token pasted into "Authorize" stays in the page's memory: never persisted to localStorage,
 * where any script of this origin could read it long after.
 */
const page = `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>Order Service API</title>
    <link rel="stylesheet" href="/docs-assets/swagger-ui.css" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="/docs-assets/swagger-ui-bundle.js"></script>
    <script>
      window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: false });
    </script>
  </body>
</html>`;

export function mountDocs(app: Hono<AppEnv>) {
  // Swagger UI sets style attributes from its script, hence inline styles; scripts only by hash.
  app.get("/docs", securePage(page, { inlineStyleAttributes: true, dataImages: true }));
}
