import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { ApiError } from "../lib/errors.ts";

export const MAX_BODY_BYTES = 64 * 1024;

/** Counts the bytes actually read, so a chunked body without Content-Length is capped too. */
export const bodyLimit = honoBodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("PAYLOAD_TOO_LARGE", `The body must not exceed ${MAX_BODY_BYTES / 1024} KiB`);
  },
});
