type Level = "debug" | "info" | "warn" | "error";

/** One structured JSON line. Callers pass fields, never tokens or card data. */
export function log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, msg, time: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}

/** drizzle puts a failed query's bound values in its message: addresses, UPI ids, keys. Never log them. */
const redact = (text: string | undefined) =>
  text?.replace(/\nparams: [\s\S]*?(?=\n {4}at |$)/g, "\nparams: [redacted]");

export function describeError(error: unknown): Record<string, unknown> {
  return error instanceof Error
    ? { error: redact(error.message), errorName: error.name, stack: redact(error.stack) }
    : { error: String(error) };
}
