import type { TestProject } from "vitest/node";
import { startNotificationService, startProductService, startUserService } from "../dev/services/index.ts";

/** An obvious test value; the worker's config demands at least 32 bytes. */
export const TEST_JWT_SECRET = "test-secret-for-vitest-only-0123456789abcdef";

declare module "vitest" {
  export interface ProvidedContext {
    productServiceUrl: string;
    userServiceUrl: string;
    notificationServiceUrl: string;
  }
}

/** Starts the local stand-ins for the sibling services on random loopback ports. */
export default async function setup(project: TestProject) {
  const product = await startProductService({ port: 0 });
  const user = await startUserService({ port: 0, jwtSecret: TEST_JWT_SECRET });
  const notification = await startNotificationService({ port: 0 });
  project.provide("productServiceUrl", product.url);
  project.provide("userServiceUrl", user.url);
  project.provide("notificationServiceUrl", notification.url);
  return async () => {
    await Promise.all([product.close(), user.close(), notification.close()]);
  };
}
