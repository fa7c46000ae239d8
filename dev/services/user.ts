// Local stand-in for the user service (SPEC §2): validates HS256 tokens whose `sub` is a username.
import { jwtVerify } from "jose";
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
    );

  return serve(router, opts);
}
