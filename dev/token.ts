// Prints a dev token for the local worker: npm run token -- --user 1 --role ADMIN [--expires 8h],
// or a guest token (as POST /api/guest issues one): npm run token -- --guest
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { issueGuestToken } from "../src/lib/guest-tokens.ts";
import { jwtSecret, loadSettings } from "./settings.ts";

const { values } = parseArgs({
  options: {
    user: { type: "string", default: "1" },
    role: { type: "string", default: "USER" },
    expires: { type: "string", default: "8h" },
    guest: { type: "boolean", default: false },
  },
});

if (values.guest) {
  const settings = loadSettings();
  const guest = await issueGuestToken({
    JWT_SECRET: jwtSecret(settings),
    GUEST_TTL_DAYS: Number(settings.GUEST_TTL_DAYS ?? 7),
  });
  console.error(`guest ${guest.guestId}, expires ${guest.expiresAt}`);
  console.log(guest.token);
  process.exit(0);
}

if (!/^\d+$/.test(values.user) || Number(values.user) < 1) {
  console.error("--user must be a positive integer (the user id)");
  process.exit(2);
}
const role = values.role.toUpperCase();
if (role !== "USER" && role !== "ADMIN") {
  console.error("--role must be USER or ADMIN");
  process.exit(2);
}

// The claims of a token from an issuer that states the user id and role (SPEC §2): no user-service round trip.
const token = await new SignJWT({ role })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.user)
  .setIssuedAt()
  .setExpirationTime(values.expires)
  .sign(new TextEncoder().encode(jwtSecret(loadSettings())));

console.log(token);
