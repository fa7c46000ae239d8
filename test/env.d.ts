declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("../src/index.ts");
  }
  /** Bindings the vitest config adds for tests (see vitest.config.ts). */
  interface Env {
    JWT_SECRET: string;
    PRODUCT_SERVICE_URL: string;
    USER_SERVICE_URL: string;
    NOTIFICATION_SERVICE_URL: string;
    DATABASE_URL: string;
    DATABASE_WS_PROXY: string;
    DATABASE_HTTP_ENDPOINT: string;
    /** Empty when no Redis answered (outside CI): the cache tests skip then. */
    UPSTASH_REDIS_REST_URL: string;
    UPSTASH_REDIS_REST_TOKEN: string;
    CACHE_KEY_PREFIX: string;
    CACHE_TIMEOUT_MS: string;
    TEST_UPSTASH_DOWN_REST_URL: string;
    /** The fuzz test's run count and seed; empty for its defaults. */
    FUZZ_RUNS: string;
    FUZZ_SEED: string;
  }
}
