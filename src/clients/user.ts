import { z } from "zod";
import { ApiError } from "../lib/errors.ts";
import { callUpstream, readUpstreamJson } from "./http.ts";

const SERVICE = "user service";

const ValidateResponseSchema = z.object({
  valid: z.literal(true),
  userId: z.coerce.number().int().positive(),
  username: z.string().optional(),
  role: z.enum(["USER", "ADMIN"]),
});

export type ValidatedUser = z.infer<typeof ValidateResponseSchema>;

/** The user service (SPEC §2): resolves the user id and role of its own tokens, which carry only `sub`. */
export class UserClient {
  private readonly baseUrl: string;
  private readonly timeoutMs: number;

  constructor(baseUrl: string, timeoutMs: number) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.timeoutMs = timeoutMs;
  }

  async validate(token: string): Promise<ValidatedUser> {
    const response = await callUpstream(
      `${this.baseUrl}/api/users/validate`,
      { headers: { authorization: `Bearer ${token}`, accept: "application/json" } },
      { service: SERVICE, timeoutMs: this.timeoutMs },
    );
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      await response.body?.cancel();
      throw new ApiError("UNAUTHORIZED", "The token does not belong to a known user");
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new ApiError("UPSTREAM_UNAVAILABLE", `The ${SERVICE} answered ${response.status}`);
    }
    const body = await readUpstreamJson(
      response,
      z.union([ValidateResponseSchema, z.object({ valid: z.literal(false) })]),
      SERVICE,
    );
    if (!body.valid) throw new ApiError("UNAUTHORIZED", "The token does not belong to a known user");
    return body;
  }
}
