import { createRouter } from "../openapi.ts";
import * as handlers from "./live.handlers.ts";
import * as routes from "./live.routes.ts";

export const liveRouter = createRouter()
  .openapi(routes.issueTicket, handlers.issueTicket)
  .openapi(routes.connect, handlers.connect);
