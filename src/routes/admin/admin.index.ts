import { createRouter } from "../../lib/openapi.ts";
import * as handlers from "./admin.handlers.ts";
import * as routes from "./admin.routes.ts";

export const adminRouter = createRouter()
  .openapi(routes.listDeadLetters, handlers.listDeadLetters)
  .openapi(routes.replayDeadLetter, handlers.replayDeadLetter);
