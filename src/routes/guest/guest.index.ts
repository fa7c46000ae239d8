import { createRouter } from "../openapi.ts";
import * as handlers from "./guest.handlers.ts";
import * as routes from "./guest.routes.ts";

export const guestRouter = createRouter();
guestRouter.openapi(routes.issueGuestToken, handlers.issueGuestToken);
