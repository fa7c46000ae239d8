import { env, exports } from "cloudflare:workers";
import { SignJWT } from "jose";

export type Role = "USER" | "ADMIN";

let counter = 0;

/** A user id no other test uses, so every test starts with an empty cart and no orders. */
export function newUserId(): number {
  counter += 1;
  return Math.floor(Math.random() * 1_000_000_000) * 100 + (counter % 100) + 1;
}

export interface TokenOptions {
  role?: Role | null;
  expiresIn?: string | number;
  claims?: Record<string, unknown>;
  subject?: string | null;
  secret?: string;
}

/** An HS256 token as another issuer would mint it: numeric `sub`, `role` claim. */
export async function tokenFor(userId: number | string, options: TokenOptions = {}): Promise<string> {
  const {
    role = "USER",
    expiresIn = "15m",
    claims = {},
    subject = String(userId),
    secret = env.JWT_SECRET,
  } = options;
  const jwt = new SignJWT({ ...(role ? { role } : {}), ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt();
  if (subject !== null) jwt.setSubject(subject);
  if (expiresIn !== null) jwt.setExpirationTime(expiresIn);
  return jwt.sign(new TextEncoder().encode(secret));
}

/** A fresh user with a valid token. */
export async function newUser(role: Role = "USER") {
  const id = newUserId();
  const token = await tokenFor(id, { role });
  return { id, token, headers: { authorization: `Bearer ${token}` } };
}

/** Registers a user in the user-service stand-in, whose tokens then carry only the username. */
export async function registerUser(username: string, userId: number, role: Role): Promise<void> {
  const response = await fetch(`${env.USER_SERVICE_URL}/__admin/users`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, userId, role }),
  });
  if (response.status !== 201) throw new Error(`user stand-in answered ${response.status} to a registration`);
}

/** How often the user-service stand-in validated this user's tokens. */
export async function validations(username: string): Promise<number> {
  const response = await fetch(`${env.USER_SERVICE_URL}/__admin/users/${username}/validations`);
  return ((await response.json()) as { count: number }).count;
}

/** A new guest, from POST /api/guest, with headers carrying its token. */
export async function newGuest(headers: Record<string, string> = {}) {
  const response = await exports.default.fetch(
    new Request("https://orders.test/api/guest", { method: "POST", headers }),
  );
  if (response.status !== 201) throw new Error(`POST /api/guest answered ${response.status}`);
  const { data } = (await response.json()) as { data: { token: string; guestId: string; expiresAt: string } };
  return { ...data, headers: { authorization: `Bearer ${data.token}` } };
}
