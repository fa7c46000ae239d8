import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_JWT_SECRET } from "./test/global-setup.ts";

export default defineConfig({
  plugins: [
    cloudflareTest(({ inject }) => ({
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        bindings: {
          // The local proxies (DATABASE_WS_PROXY, DATABASE_HTTP_ENDPOINT) are development-only settings.
          ENVIRONMENT: "development",
          JWT_SECRET: TEST_JWT_SECRET,
          PRODUCT_SERVICE_URL: inject<string>("productServiceUrl"),
          USER_SERVICE_URL: inject<string>("userServiceUrl"),
          NOTIFICATION_SERVICE_URL: inject<string>("notificationServiceUrl"),
          DATABASE_URL: inject<string>("databaseUrl"),
          DATABASE_WS_PROXY: inject<string>("databaseWsProxy"),
          DATABASE_HTTP_ENDPOINT: inject<string>("databaseHttpEndpoint"),
          // The local Upstash-compatible endpoint over the real Redis, under this run's key prefix.
          UPSTASH_REDIS_REST_URL: inject<string>("upstashRestUrl"),
          UPSTASH_REDIS_REST_TOKEN: inject<string>("upstashRestToken"),
          CACHE_KEY_PREFIX: inject<string>("cacheKeyPrefix"),
          // Test-only: the same endpoint with its Redis stopped.
          TEST_UPSTASH_DOWN_REST_URL: inject<string>("upstashDownRestUrl"),
          // Above production's 250 ms: a loaded 2-core CI box must not turn a healthy Redis into a
          // miss in the tests that count product-service calls.
          CACHE_TIMEOUT_MS: "1000",
          // The mock gateway settles quickly, so payment tests need not wait the production 2 s.
          PAYMENT_SETTLE_DELAY_MS: "50",
          // Notification retries wait about 1, 2, 4 … s instead of 5, 10, 20 … s.
          NOTIFICATION_RETRY_BASE_SECONDS: "1",
          // The production deadline: a loaded 2-core CI box must never turn a healthy call into a 503.
          UPSTREAM_TIMEOUT_MS: "3000",
          CORS_ORIGINS: "https://shop.example.com",
          // Tests write in bursts from one address and often as one user; the rate-limit tests
          // configure their own limits.
          RATE_LIMIT_IP_PER_MIN: "0",
          RATE_LIMIT_USER_PER_MIN: "0",
          // `npm run fuzz -- --runs N --seed S` (dev/fuzz.ts); empty: the fuzz test's bounded CI defaults.
          FUZZ_RUNS: process.env.FUZZ_RUNS ?? "",
          FUZZ_SEED: process.env.FUZZ_SEED ?? "",
        },
      },
    })),
  ],
  test: {
    globalSetup: ["./test/global-setup.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    // Request logs of passing tests are noise; a failing test still shows its own.
    silent: "passed-only",
  },
});
