import { Injectable, OnModuleInit } from '@nestjs/common';
import { PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { ROUTE_RULE, type RouteRule } from './route-rules';

/** A route handler of one of the app's controllers, with the rule that decides who may call it. */
export interface RouteHandler {
  controller: abstract new (...args: never[]) => unknown;
  method: string;
  handler: object;
  rule: RouteRule | undefined;
}

/** Every route handler (a controller method with a path) of the app, with its @Public/@Roles rule. */
export function routeHandlers(discovery: DiscoveryService): RouteHandler[] {
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const handlers: RouteHandler[] = [];
  for (const wrapper of discovery.getControllers()) {
    const controller = wrapper.metatype as RouteHandler['controller'] | null | undefined;
    if (!controller) continue;
    const prototype = controller.prototype as Record<string, unknown>;
    for (const method of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[method] as object;
      if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      const rule = reflector.getAllAndOverride<RouteRule | undefined>(ROUTE_RULE, [
        handler as never,
        controller,
      ]);
      handlers.push({ controller, method, handler, rule });
    }
  }
  return handlers;
}

/** At boot: every route handler has an explicit rule (@Public or @Roles), or the API refuses to start. */
@Injectable()
export class RouteRulesCheck implements OnModuleInit {
  constructor(private readonly discovery: DiscoveryService) {}

  onModuleInit(): void {
    const missing = routeHandlers(this.discovery)
      .filter(({ rule }) => !rule)
      .map(({ controller, method }) => `${controller.name}.${method}`);
    if (missing.length) {
      throw new Error(`routes without an access rule (@Public or @Roles): ${missing.join(', ')}`);
    }
  }
}
