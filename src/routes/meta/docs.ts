import type { Hono } from "hono";
import type { AppEnv } from "../../app-env.ts";

/**
 * Swagger UI for /openapi.json. Its script and stylesheet are static assets of this worker
 * (public/docs-assets, copied from swagger-ui-dist at install), so the page needs no internet.
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
      window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true });
    </script>
  </body>
</html>`;

export function mountDocs(app: Hono<AppEnv>) {
  app.get("/docs", (c) => c.html(page));
}
