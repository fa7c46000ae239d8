// The pages' one way to the API: the bearer token on every call, the envelope unwrapped, and a
// refusal thrown as the API worded it (its `message`, `error.code` and `error.details`).

export class ApiError extends Error {
  /**
   * @param {number} status the HTTP status (0: no answer)
   * @param {{ message?: string, error?: { code?: string, details?: { path: string, message: string }[] } }} body
   */
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.error?.code ?? null;
    this.details = Array.isArray(body?.error?.details) ? body.error.details : [];
  }
}

/**
 * Calls the API with `token` and returns the envelope's `data`.
 * @param {string} token
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 */
export async function api(token, method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { message: `The service did not answer: ${error.message}` });
  }
  let parsed;
  try {
    parsed = await response.json();
  } catch {
    parsed = undefined;
  }
  if (!response.ok || parsed?.success !== true) {
    throw new ApiError(response.status, parsed ?? { message: `HTTP ${response.status}` });
  }
  return parsed.data;
}

/** A query string from an object, with arrays as repeated parameters and empty values left out. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      if (one !== undefined && one !== null && one !== "") search.append(key, String(one));
    }
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
