import { createRouter } from "../../lib/openapi.ts";
import { guestIssuanceLimit } from "../../middleware/guest-issuance-limit.ts";
import * as handlers from "./guest.handlers.ts";
import * as routes from "./guest.routes.ts";

export const guestRouter = createRouter();
guestRouter.use(routes.issueGuestToken.path, guestIssuanceLimit);
guestRouter.openapi(routes.issueGuestToken, handlers.issueGuestToken);
