export type { RunningService, ServiceOptions } from "./http.ts";
export { startNotificationService } from "./notification.ts";
export { type Fault, startProductService } from "./product.ts";
export { startUserService } from "./user.ts";
