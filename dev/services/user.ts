// Local stand-in for the user service (SPEC §2): validates HS256 tokens whose `sub` is a username.
// It also plays the identity provider behind JWKS_URL: a JWKS with an RS256 and an ES256 key, and
// an admin endpoint that signs tokens with them.
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose";
import { z } from "zod";
import {
  HttpError,
  Router,
  type RunningService,
  readJson,
  type ServiceOptions,
  sendJson,
  serve,
} from "./http.ts";

const UserSchema = z.strictObject({
  username: z.string().min(1),
  userId: z.int().positive(),
  role: z.enum(["USER", "ADMIN"]),
});
export type User = z.infer<typeof UserSchema>;

export interface UserServiceOptions extends ServiceOptions {
  jwtSecret: string;
}

const TokenRequestSchema = z.strictObject({
  alg: z.enum(["RS256", "ES256"]),
  claims: z.record(z.string(), z.unknown()).default({}),
  expiresIn: z.union([z.string(), z.number()]).default("15m"),
});

/** An RS256 and an ES256 signing key, published as a JWKS. */
async function identityProvider() {
  const keys = {
    RS256: await generateKeyPair("RS256", { extractable: true }),
    ES256: await generateKeyPair("ES256", { extractable: true }),
  };
  const jwks = {
    keys: await Promise.all(
      Object.entries(keys).map(async ([alg, pair]) => ({
        ...(await exportJWK(pair.publicKey)),
        alg,
        kid: alg,
        use: "sig",
      })),
    ),
  };
  const sign = (request: z.infer<typeof TokenRequestSchema>) =>
    new SignJWT(request.claims)
      .setProtectedHeader({ alg: request.alg, kid: request.alg })
      .setIssuedAt()
      .setExpirationTime(request.expiresIn)
      .sign(keys[request.alg].privateKey);
  return { jwks, sign };
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, { valid: false, message });
}

export async function startUserService(opts: UserServiceOptions): Promise<RunningService> {
  const key = new TextEncoder().encode(opts.jwtSecret);
  const users = new Map<string, User>([
    ["john_doe", { username: "john_doe", userId: 1, role: "USER" }],
    ["admin", { username: "admin", userId: 2, role: "ADMIN" }],
  ]);
  // Validation calls per username, so tests can prove the order service caches them.
  const validations = new Map<string, number>();
  const idp = await identityProvider();

  const router = new Router()
    .on("GET", "/health", ({ res }) => sendJson(res, 200, { status: "ok" }))
    .on("GET", "/api/users/validate", async ({ req, res }) => {
      const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      if (!match?.[1]) throw unauthorized("Missing bearer token");
      let username: string;
      try {
        const { payload } = await jwtVerify(match[1], key, {
          algorithms: ["HS256"],
          requiredClaims: ["sub"],
        });
        username = payload.sub as string;
      } catch {
        throw unauthorized("Invalid or expired token");
      }
      validations.set(username, (validations.get(username) ?? 0) + 1);
      const user = users.get(username);
      if (!user) throw unauthorized("Unknown user");
      sendJson(res, 200, { valid: true, userId: user.userId, username: user.username, role: user.role });
    })
    .on("POST", "/__admin/users", async ({ req, res }) => {
      const result = UserSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
      users.set(result.data.username, result.data);
      sendJson(res, 201, result.data);
    })
    .on("GET", "/__admin/users/:username/validations", ({ res, params }) =>
      sendJson(res, 200, { count: validations.get(params.username ?? "") ?? 0 }),
    )
    // `?broken=1` plays an identity provider that is down (a URL of its own, so no cache hides it).
    .on("GET", "/.well-known/jwks.json", ({ res, url }) =>
      url.searchParams.has("broken")
        ? sendJson(res, 503, { error: "unavailable" })
        : sendJson(res, 200, idp.jwks),
    )
    .on("POST", "/__admin/tokens", async ({ req, res }) => {
      const result = TokenRequestSchema.safeParse(await readJson(req));
      if (!result.success) throw new HttpError(400, z.prettifyError(result.error));
      sendJson(res, 201, { token: await idp.sign(result.data) });
    });

  return serve(router, opts);
}
