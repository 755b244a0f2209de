import type { INestApplication } from '@nestjs/common';
import { RequestMethod } from '@nestjs/common';
import { GUARDS_METADATA, METHOD_METADATA } from '@nestjs/common/constants';
import { DiscoveryService } from '@nestjs/core';
import {
  DocumentBuilder,
  SwaggerModule,
  type HeaderObject,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
} from '@nestjs/swagger';
import { ROLES } from '@silo/auth';
import type { RouteRule } from '../auth/route-rules';
import { routeHandlers } from '../auth/route-rules.check';
import type { RateBudget } from '../rate-limit/caller-rate-limiter';
import { MutationRateLimitGuard } from '../rate-limit/mutation-rate-limit.guard';
import { ReadRateLimitGuard } from '../rate-limit/read-rate-limit.guard';
import { problemResponse } from './openapi.decorators';
import { componentSchemas } from './openapi.schemas';

/** Where the document is served: `GET /docs` (Swagger UI) and `GET /docs-json`. */
export const DOCS_PATH = 'docs';
export const DOCS_JSON_PATH = 'docs-json';

const BEARER = 'bearer';
const RATE_LIMIT_HEADERS: Record<string, HeaderObject> = {
  'RateLimit-Limit': {
    description: 'Calls of this kind (changes, or reads) allowed per caller per window.',
    schema: { type: 'integer' },
  },
  'RateLimit-Remaining': {
    description: 'Calls of this kind left in this window.',
    schema: { type: 'integer' },
  },
};
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

/** `TenantsController.create` → `Tenants_create`. */
export function operationIdOf(controller: string, handler: string): string {
  return `${controller.replace(/Controller$/, '')}_${handler}`;
}

/** A route of the app with what decides who may call it. */
interface RouteAccess {
  operationId: string;
  rule: RouteRule | undefined;
  rateLimited: RateBudget | null;
}

/**
 * The OpenAPI document of the app, built from its controllers' decorators. Who may call each
 * route is not repeated in swagger decorators: it is read from the same @Public/@Roles metadata
 * the AuthGuard enforces, and so are the 401/403 answers; 429 comes from the rate-limit guard.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Silo control-plane API')
    .setDescription(
      'Provisions, monitors and removes one RDS for PostgreSQL instance per tenant. JSON bodies; ' +
        'every error is `application/problem+json` (RFC 9457); every response carries `x-request-id`. ' +
        'Unknown body fields and query parameters are refused with 400.',
    )
    .setVersion('1')
    .addBearerAuth(
      {
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description:
          `A JWT carrying \`sub\` and \`roles\` (any of ${ROLES.map((r) => `\`${r}\``).join(', ')}). ` +
          'Missing or bad token → 401 with `WWW-Authenticate: Bearer`; a token without a role the ' +
          'route lists → 403.',
      },
      BEARER,
    )
    .build();
  config.components = {
    ...config.components,
    schemas: componentSchemas(),
    parameters: {
      RequestId: {
        name: 'x-request-id',
        in: 'header',
        required: false,
        description:
          'Echoed on the response and logged with the request; a token of 1-128 characters of ' +
          '`A-Za-z0-9._:-`, anything else is replaced by a new UUID.',
        schema: { type: 'string' },
      },
    },
    headers: {
      RequestId: {
        description: 'The caller’s x-request-id when usable, else a new UUID.',
        schema: { type: 'string' },
      },
    },
  };
  const document = SwaggerModule.createDocument(app, config, { operationIdFactory: operationIdOf });
  applyRouteRules(document, routeAccess(app));
  addDocsRoutes(document);
  applyHttpLayer(document);
  addLinks(document);
  return document;
}

/** The app's route handlers with what decides who may call each: its rule and the rate limit. */
function routeAccess(app: INestApplication): RouteAccess[] {
  return routeHandlers(app.get(DiscoveryService)).map(({ controller, method, handler, rule }) => {
    const guards = [handler, controller].flatMap(
      (target) => (Reflect.getMetadata(GUARDS_METADATA, target) ?? []) as unknown[],
    );
    const isGet = Reflect.getMetadata(METHOD_METADATA, handler) === RequestMethod.GET;
    return {
      operationId: operationIdOf(controller.name, method),
      rule,
      rateLimited: guards.includes(MutationRateLimitGuard)
        ? 'mutations'
        : isGet && guards.includes(ReadRateLimitGuard)
          ? 'reads'
          : null,
    };
  });
}

function applyRouteRules(document: OpenAPIObject, routes: RouteAccess[]): void {
  const operations = new Map(allOperations(document).map((op) => [op.operationId, op]));
  for (const { operationId, rule, rateLimited } of routes) {
    const op = operations.get(operationId);
    if (!op) continue; // excluded from the document
    if (!rule) throw new Error(`route without an access rule (@Public or @Roles): ${operationId}`);
    // The rate limit runs after authentication, so every answer but 401/403 carries the budget.
    if (rateLimited) {
      for (const response of Object.values(op.responses) as ResponseObject[]) {
        response.headers = { ...RATE_LIMIT_HEADERS, ...response.headers };
      }
      const calls = rateLimited === 'mutations' ? 'changes' : 'reads';
      op.responses[429] ??= problemResponse(`Too many ${calls} from this caller; retry later.`, {
        'Retry-After': { description: 'Seconds to wait.', schema: { type: 'integer', minimum: 1 } },
        ...RATE_LIMIT_HEADERS,
      });
    }
    if ('public' in rule) {
      markPublic(op);
      continue;
    }
    op.security = [{ [BEARER]: [] }];
    Object.assign(op, { 'x-roles': [...rule.roles] });
    prependDescription(
      op,
      `**Roles:** a bearer JWT with one of ${rule.roles.map((r) => `\`${r}\``).join(', ')}.`,
    );
    op.responses[401] ??= problemResponse('No bearer token, or one that does not verify.', {
      'WWW-Authenticate': { description: '`Bearer error="…"`', schema: { type: 'string' } },
    });
    op.responses[403] ??= problemResponse(`The token has none of the roles ${rule.roles.join(', ')}.`);
  }
}

/** `/docs` and `/docs-json` are served by SwaggerModule (plain express routes), not controllers. */
function addDocsRoutes(document: OpenAPIObject): void {
  const docs = (handler: string, summary: string, contentType: string, type: 'string' | 'object') => {
    const op: OperationObject = {
      operationId: operationIdOf('Docs', handler),
      summary,
      tags: ['Docs'],
      responses: { 200: { description: summary, content: { [contentType]: { schema: { type } } } } },
    };
    markPublic(op);
    return { get: op };
  };
  document.paths[`/${DOCS_PATH}`] = docs('ui', 'Swagger UI for this document', 'text/html', 'string');
  document.paths[`/${DOCS_JSON_PATH}`] = docs(
    'document',
    'This OpenAPI document',
    'application/json',
    'object',
  );
}

/** What the HTTP layer (`configureJsonHttp` of @silo/http, request ids) does on every route. */
function applyHttpLayer(document: OpenAPIObject): void {
  for (const op of allOperations(document)) {
    op.parameters = [{ $ref: '#/components/parameters/RequestId' }, ...(op.parameters ?? [])];
    op.responses[431] ??= problemResponse('The request headers are larger than 16 KiB (Node’s limit).');
    if (op.requestBody) {
      op.responses[413] ??= problemResponse('The body is larger than this API accepts.');
      op.responses[415] ??= problemResponse('The body is not UTF-8 application/json.');
    }
    for (const response of Object.values(op.responses) as ResponseObject[]) {
      response.headers = { 'x-request-id': { $ref: '#/components/headers/RequestId' }, ...response.headers };
    }
  }
}

/**
 * OpenAPI links from each create (`POST /v1/tenants`, `POST /v1/schema-rollouts`) to every
 * operation on the resource it made, by its `id` (and, for a tenant's DELETE, its slug as
 * `confirm`), so that clients and stateful test tools can follow a resource from birth; and from
 * the host list (`GET /v1/hosts`) to every operation on a host, by the first item's `id`.
 */
function addLinks(document: OpenAPIObject): void {
  for (const collection of ['/v1/tenants', '/v1/schema-rollouts']) {
    const create = document.paths[collection]?.post;
    const created = (create?.responses[202] ?? create?.responses[201]) as ResponseObject | undefined;
    if (!created) continue;
    const links: Record<
      string,
      { operationId: string; parameters: Record<string, string>; description: string }
    > = {};
    for (const [path, item] of Object.entries(document.paths)) {
      const match = new RegExp(`^${collection}/\\{([A-Za-z]+)\\}`).exec(path);
      if (!match) continue;
      for (const method of METHODS) {
        const op = item[method];
        if (!op?.operationId) continue;
        const parameters: Record<string, string> = { [match[1]]: '$response.body#/id' };
        // Only the tenant's own DELETE takes `confirm` (a restore copy's is by its run).
        if (path === '/v1/tenants/{idOrSlug}' && method === 'delete')
          parameters.confirm = '$response.body#/slug';
        links[op.operationId] = {
          operationId: op.operationId,
          parameters,
          description: `${method.toUpperCase()} ${path} of the ${collection === '/v1/tenants' ? 'tenant' : 'rollout'} just created.`,
        };
      }
    }
    created.links = links;
  }
  // Hosts are made by the worker, never by a request: their links start from the list.
  const listed = document.paths['/v1/hosts']?.get?.responses[200] as ResponseObject | undefined;
  if (listed) {
    const links: Record<
      string,
      { operationId: string; parameters: Record<string, string>; description: string }
    > = {};
    for (const [path, item] of Object.entries(document.paths)) {
      if (!/^\/v1\/hosts\/\{id\}/.test(path)) continue;
      for (const method of METHODS) {
        const op = item[method];
        if (!op?.operationId) continue;
        links[op.operationId] = {
          operationId: op.operationId,
          parameters: { id: '$response.body#/items/0/id' },
          description: `${method.toUpperCase()} ${path} of the first host listed.`,
        };
      }
    }
    listed.links = links;
  }
}

function markPublic(op: OperationObject): void {
  op.security = [];
  prependDescription(op, '**Public:** no token needed.');
}

function prependDescription(op: OperationObject, text: string): void {
  op.description = op.description ? `${text}\n\n${op.description}` : text;
}

function allOperations(document: OpenAPIObject): OperationObject[] {
  return Object.values(document.paths).flatMap((item) =>
    METHODS.flatMap((method) => (item[method] ? [item[method]] : [])),
  );
}
