import { z } from "zod";

/** How many requests per minute a limit allows; 0 turns the limit off. */
const perMinute = (fallback: number) => z.coerce.number().int().min(0).default(fallback);
const url = z.url({ protocol: /^https?$/ });
const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === "" ? undefined : value));

/**
 * The signing secret `npm run dev` uses when none is configured (dev/settings.ts). It is public, so
 * it is accepted only where ENVIRONMENT says development.
 */
export const DEV_JWT_SECRET = "dev-only-jwt-secret-do-not-use-in-production";

/** Settings that only a development machine may use; anywhere else they stop the worker from starting. */
const DEVELOPMENT_ONLY = {
  // Turns TLS off between the driver and its proxy.
  DATABASE_WS_PROXY: "turns TLS off to the database",
  // Receives the whole connection string, password included, on every query.
  DATABASE_HTTP_ENDPOINT: "receives the database password",
} as const;

/** Every setting the worker reads from its environment (vars, secrets); parsed once per isolate. */
const ConfigSchema = z
  .object({
    /** Where this worker runs. Only "development" accepts the development-only settings. */
    ENVIRONMENT: z.enum(["production", "staging", "development"]).default("production"),
    SERVICE_VERSION: z.string().default("0.0.0"),
    JWT_SECRET: z
      .string({ error: "is required" })
      // HS256 with a short secret can be brute-forced offline from any token.
      .refine((secret) => new TextEncoder().encode(secret).length >= 32, "must be at least 32 bytes long"),
    JWKS_URL: optionalString.pipe(url.optional()),
    /** The `iss` and `aud` the identity provider's tokens must carry (HS256 tokens too, when set without JWKS_URL). */
    JWT_ISSUER: optionalString,
    JWT_AUDIENCE: optionalString,
    JWT_CLOCK_TOLERANCE_SECONDS: z.coerce.number().int().min(0).max(300).default(30),
    PRODUCT_SERVICE_URL: url,
    USER_SERVICE_URL: url,
    NOTIFICATION_SERVICE_URL: url,
    UPSTREAM_TIMEOUT_MS: z.coerce.number().int().min(50).max(3000).default(3000),
    DEFAULT_CURRENCY: z
      .string()
      .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code")
      .default("USD"),
    CORS_ORIGINS: z
      .string()
      .default("")
      .transform((value) =>
        value
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.url())),
    RATE_LIMIT_USER_PER_MIN: perMinute(120),
    /** Counted by the IP_RATE_LIMITER binding, in units of its fixed limit (middleware/rate-limit.ts). */
    RATE_LIMIT_IP_PER_MIN: perMinute(600).pipe(z.number().max(10_000)),
    PAYMENT_TIMEOUT_MINUTES: z.coerce.number().int().min(1).default(30),
    /** A cash-on-delivery order not moved to processing this long after it was placed is cancelled. */
    COD_CONFIRM_HOURS: z.coerce.number().int().min(1).max(720).default(48),
    /** Orders one user may hold in status pending at once, so that no account can pin a product's stock. */
    MAX_OPEN_ORDERS_PER_USER: z.coerce.number().int().min(1).max(1000).default(5),
    /** A guest token's lifetime, and how long a guest's cart may stay idle before it is emptied. */
    GUEST_TTL_DAYS: z.coerce.number().int().min(1).max(30).default(7),
    DATABASE_URL: z
      .string({ error: "is required" })
      .regex(/^postgres(ql)?:\/\//, "must be a postgres:// URL"),
    /** Local development only: a Neon wsproxy (host:port/path) through which the driver reaches a plain Postgres. */
    DATABASE_WS_PROXY: optionalString,
    /** Local development only: a SQL-over-HTTP endpoint (dev/sqlhttp.ts) standing in for Neon's. */
    DATABASE_HTTP_ENDPOINT: optionalString.pipe(url.optional()),
    /** Live sockets one user may hold open; past it the oldest is closed. */
    LIVE_MAX_SOCKETS_PER_USER: z.coerce.number().int().min(1).max(100).default(5),
    /** A live socket closes after this long (or when its token expires, if sooner); the page reconnects. */
    LIVE_SOCKET_MAX_AGE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(3600),
    PAYMENT_SETTLE_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(2000),
    /** The first retry of a failed notification waits about this long; each next one twice as long. */
    NOTIFICATION_RETRY_BASE_SECONDS: z.coerce.number().int().min(1).max(900).default(5),
    UPSTASH_REDIS_REST_URL: optionalString.pipe(url.optional()),
    UPSTASH_REDIS_REST_TOKEN: optionalString,
    /** Put before every Redis key, so environments (or test runs) can share one database. */
    CACHE_KEY_PREFIX: z
      .string()
      .max(100)
      .regex(/^[A-Za-z0-9:_.-]*$/, "may hold only letters, digits and : _ . -")
      .default("order-service:"),
    /** A Redis call slower than this is a miss: the cache must cost a request little when Redis is slow. */
    CACHE_TIMEOUT_MS: z.coerce.number().int().min(10).max(2000).default(250),
    PRODUCT_CACHE_TTL_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  })
  // An identity provider's tokens are believed (role included) only if they were minted for us.
  .refine((config) => !config.JWKS_URL || Boolean(config.JWT_ISSUER), {
    path: ["JWT_ISSUER"],
    message: "is required when JWKS_URL is set",
  })
  .refine((config) => !config.JWKS_URL || Boolean(config.JWT_AUDIENCE), {
    path: ["JWT_AUDIENCE"],
    message: "is required when JWKS_URL is set",
  })
  .refine((config) => Boolean(config.UPSTASH_REDIS_REST_URL) === Boolean(config.UPSTASH_REDIS_REST_TOKEN), {
    path: ["UPSTASH_REDIS_REST_TOKEN"],
    message: "and UPSTASH_REDIS_REST_URL must be set together",
  })
  .superRefine((config, context) => {
    if (config.ENVIRONMENT === "development") return;
    for (const [key, why] of Object.entries(DEVELOPMENT_ONLY)) {
      if (config[key as keyof typeof DEVELOPMENT_ONLY] !== undefined)
        context.addIssue({
          code: "custom",
          path: [key],
          message: `is for development only (it ${why}): unset it, or set ENVIRONMENT=development on a development machine`,
        });
    }
    if (config.JWT_SECRET === DEV_JWT_SECRET)
      context.addIssue({
        code: "custom",
        path: ["JWT_SECRET"],
        message: `is the published development secret, accepted only with ENVIRONMENT=development (ENVIRONMENT is ${config.ENVIRONMENT})`,
      });
  })
  .refine((config) => config.CACHE_TIMEOUT_MS < config.UPSTREAM_TIMEOUT_MS, {
    path: ["CACHE_TIMEOUT_MS"],
    message: "must be below UPSTREAM_TIMEOUT_MS (a cache lookup must never cost more than the call it saves)",
  });

export type Config = z.infer<typeof ConfigSchema>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

const parsed = new WeakMap<object, Config>();

/**
 * Parses the worker's environment once per isolate. A bad value throws a ConfigError that names
 * every offending variable, so a misconfigured deploy fails loudly on its first request.
 */
export function getConfig(env: object): Config {
  const cached = parsed.get(env);
  if (cached) return cached;
  const result = ConfigSchema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")} ${issue.message}`);
    throw new ConfigError(`Invalid configuration: ${problems.join("; ")}`);
  }
  parsed.set(env, result.data);
  return result.data;
}
