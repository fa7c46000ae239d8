import { describe, expect, it } from "vitest";
import { ConfigError, DEV_JWT_SECRET, getConfig } from "../../src/config.ts";

const valid = {
  JWT_SECRET: "x".repeat(32),
  PRODUCT_SERVICE_URL: "http://127.0.0.1:8081",
  USER_SERVICE_URL: "http://127.0.0.1:8082",
  NOTIFICATION_SERVICE_URL: "http://127.0.0.1:8084",
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/orders",
};

describe("config", () => {
  it("applies defaults", () => {
    expect(getConfig({ ...valid })).toMatchObject({
      RATE_LIMIT_USER_PER_MIN: 120,
      RATE_LIMIT_IP_PER_MIN: 600,
      PAYMENT_TIMEOUT_MINUTES: 30,
      UPSTREAM_TIMEOUT_MS: 3000,
      CORS_ORIGINS: [],
    });
  });

  it("parses the CORS allow-list", () => {
    const config = getConfig({ ...valid, CORS_ORIGINS: "https://a.example.com, https://b.example.com" });
    expect(config.CORS_ORIGINS).toEqual(["https://a.example.com", "https://b.example.com"]);
  });

  it("names a JWT_SECRET shorter than 32 bytes", () => {
    expect(() => getConfig({ ...valid, JWT_SECRET: "short" })).toThrow(ConfigError);
    expect(() => getConfig({ ...valid, JWT_SECRET: "short" })).toThrow(
      /JWT_SECRET must be at least 32 bytes/,
    );
  });

  it("names every missing or malformed variable", () => {
    expect(() => getConfig({ JWT_SECRET: valid.JWT_SECRET, PRODUCT_SERVICE_URL: "not a url" })).toThrow(
      /PRODUCT_SERVICE_URL.*USER_SERVICE_URL.*NOTIFICATION_SERVICE_URL/,
    );
    expect(() => getConfig({ ...valid, RATE_LIMIT_USER_PER_MIN: "-1" })).toThrow(/RATE_LIMIT_USER_PER_MIN/);
    expect(() => getConfig({ ...valid, UPSTASH_REDIS_REST_URL: "https://redis.example.com" })).toThrow(
      /UPSTASH_REDIS_REST_TOKEN/,
    );
  });

  it("defaults the cache settings and keeps a Redis call cheaper than the call it saves", () => {
    expect(getConfig({ ...valid })).toMatchObject({
      CACHE_KEY_PREFIX: "order-service:",
      CACHE_TIMEOUT_MS: 250,
      PRODUCT_CACHE_TTL_SECONDS: 60,
    });
    expect(() => getConfig({ ...valid, CACHE_TIMEOUT_MS: "2000", UPSTREAM_TIMEOUT_MS: "1000" })).toThrow(
      /CACHE_TIMEOUT_MS must be below UPSTREAM_TIMEOUT_MS/,
    );
    expect(() => getConfig({ ...valid, CACHE_KEY_PREFIX: "bad prefix*" })).toThrow(/CACHE_KEY_PREFIX/);
    expect(() => getConfig({ ...valid, PRODUCT_CACHE_TTL_SECONDS: "-1" })).toThrow(
      /PRODUCT_CACHE_TTL_SECONDS/,
    );
  });

  it("refuses the development-only settings and the dev secret unless ENVIRONMENT=development", () => {
    const local = {
      DATABASE_WS_PROXY: "127.0.0.1:9000/v1",
      DATABASE_HTTP_ENDPOINT: "http://127.0.0.1:9001/sql",
    };
    for (const environment of [{}, { ENVIRONMENT: "production" }, { ENVIRONMENT: "staging" }]) {
      expect(() =>
        getConfig({ ...valid, ...environment, DATABASE_WS_PROXY: local.DATABASE_WS_PROXY }),
      ).toThrow(/DATABASE_WS_PROXY is for development only/);
      expect(() =>
        getConfig({ ...valid, ...environment, DATABASE_HTTP_ENDPOINT: local.DATABASE_HTTP_ENDPOINT }),
      ).toThrow(/DATABASE_HTTP_ENDPOINT is for development only/);
      expect(() => getConfig({ ...valid, ...environment, JWT_SECRET: DEV_JWT_SECRET })).toThrow(
        /JWT_SECRET is the published development secret/,
      );
    }
    expect(getConfig({ ...valid })).toMatchObject({ ENVIRONMENT: "production" });
    expect(
      getConfig({ ...valid, ...local, ENVIRONMENT: "development", JWT_SECRET: DEV_JWT_SECRET }),
    ).toMatchObject({ ENVIRONMENT: "development", DATABASE_WS_PROXY: local.DATABASE_WS_PROXY });
    expect(() => getConfig({ ...valid, ENVIRONMENT: "prod" })).toThrow(/ENVIRONMENT/);
  });

  it("bounds the per-address limit to what the binding's units count exactly enough", () => {
    expect(getConfig({ ...valid, RATE_LIMIT_IP_PER_MIN: "10000" }).RATE_LIMIT_IP_PER_MIN).toBe(10_000);
    expect(() => getConfig({ ...valid, RATE_LIMIT_IP_PER_MIN: "10001" })).toThrow(/RATE_LIMIT_IP_PER_MIN/);
  });

  it("requires an issuer and an audience for an identity provider's tokens", () => {
    const provider = { ...valid, JWKS_URL: "https://idp.example.com/jwks.json" };
    expect(() => getConfig(provider)).toThrow(
      /JWT_ISSUER is required when JWKS_URL is set; JWT_AUDIENCE is required when JWKS_URL is set/,
    );
    expect(() => getConfig({ ...provider, JWT_ISSUER: "https://idp.example.com/" })).toThrow(/JWT_AUDIENCE/);
    expect(
      getConfig({ ...provider, JWT_ISSUER: "https://idp.example.com/", JWT_AUDIENCE: "orders" }),
    ).toMatchObject({ JWT_ISSUER: "https://idp.example.com/", JWT_AUDIENCE: "orders" });
  });
});
